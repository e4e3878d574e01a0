/**
 * Payments: the list with filters (status, dates, phone, reference, channel, search by id or receipt),
 * the API's cursor pages and a CSV export of the same filters; one payment with its timeline, a link
 * to its workflow in the Temporal UI, and webhook redelivery.
 * Backed by GET /v1/payments, GET /v1/reports/payments.csv, GET /v1/payments/:id and …/timeline,
 * GET /v1/channels and POST /v1/events/:id/redeliver.
 */
import type { z } from 'zod';
import { MalipoError } from '../../domain/errors';
import { PAYMENT_STATUSES } from '../../domain/payment';
import { html, type SafeHtml } from '../../http/html';
import { pipeChunks } from '../../http/route';
import { type ChannelSchema, listChannelsRoute } from '../../http/routes/channels';
import { type Timeline, paymentTimelineRoute } from '../../http/routes/payment-timeline';
import { getPaymentRoute, listPaymentsRoute, type PaymentSchema } from '../../http/routes/payments';
import { exportPaymentsRoute } from '../../http/routes/reports';
import { redeliverEventRoute } from '../../http/routes/webhooks';
import { hasScope } from '../../platform/scopes';
import { callApi } from '../api';
import {
  emptyState,
  field,
  type FormErrors,
  formError,
  formErrors,
  kes,
  nairobiTime,
  pager,
  select,
} from '../layout';
import type { PageContext, PageModule } from '../page-types';
import { paymentRows, statusBadge } from './overview';

type Payment = z.output<typeof PaymentSchema>;
type PaymentList = { data: Payment[]; nextCursor: string | null };
type Channel = z.output<typeof ChannelSchema>;

const FILTERS = ['status', 'from', 'to', 'phone', 'reference', 'channelId', 'search'] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;

/** A Nairobi calendar date (`YYYY-MM-DD`) → its first instant; `to` dates include the whole day. */
function nairobiDay(date: string | undefined, end: boolean): string | undefined {
  if (!date) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return date; // the API explains what is wrong with it
  const start = Date.parse(`${date}T00:00:00+03:00`);
  if (Number.isNaN(start)) return date;
  return new Date(start + (end ? 24 * 3600_000 : 0)).toISOString();
}

function filtersOf(q: Record<string, string>): Filters {
  const f: Filters = {};
  for (const k of FILTERS) {
    const v = q[k]?.trim();
    if (v) f[k] = v.slice(0, 100);
  }
  return f;
}

/** The page's filters as the API's query (dates as Nairobi days). */
const apiQuery = (f: Filters) => ({
  status: f.status,
  from: nairobiDay(f.from, false),
  to: nairobiDay(f.to, true),
  phone: f.phone,
  reference: f.reference,
  channelId: f.channelId,
  search: f.search,
});

function filterForm(f: Filters, channels: Channel[], errors: FormErrors | undefined): SafeHtml {
  const e = errors?.fields ?? {};
  return html`<form method="get" action="/dashboard/payments" class="card" id="payment-filters" role="search" aria-label="Filter payments">
<div class="filters">
${field({ name: 'search', label: 'Payment id or receipt', type: 'search', value: f.search, error: e.search })}
${select({ name: 'status', label: 'Status', value: f.status, error: e.status, options: [{ value: '', label: 'Any' }, ...PAYMENT_STATUSES.map((s) => ({ value: s, label: s.replace('_', ' ') }))] })}
${field({ name: 'from', label: 'From (Nairobi date)', type: 'date', value: f.from, error: e.from })}
${field({ name: 'to', label: 'To (inclusive)', type: 'date', value: f.to, error: e.to })}
${field({ name: 'phone', label: 'Phone', type: 'tel', value: f.phone, error: e.phone })}
${field({ name: 'reference', label: 'Reference', value: f.reference, error: e.reference })}
${select({ name: 'channelId', label: 'Channel', value: f.channelId, error: e.channelId, options: [{ value: '', label: 'Any' }, ...channels.map((c) => ({ value: c.id, label: `${c.name} (${c.shortcode})` }))] })}
</div>
<div class="actions"><button type="submit" class="primary">Filter</button> <a class="button secondary" href="/dashboard/payments">Clear</a></div>
</form>`;
}

async function channelsOf(ctx: PageContext): Promise<Channel[]> {
  if (!hasScope(ctx.auth.scopes, 'channels:read')) return [];
  const r = await callApi<{ data: Channel[] }>(ctx, listChannelsRoute);
  return r.body.data;
}

function exportHref(f: Filters): string {
  const p = new URLSearchParams(Object.entries(f).filter(([, v]) => v) as [string, string][]);
  const s = p.toString();
  return `/dashboard/payments/export.csv${s ? `?${s}` : ''}`;
}

function props(rows: Array<[string, SafeHtml | string | number | null | undefined]>): SafeHtml {
  return html`<dl class="props">${rows
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => html`<dt>${k}</dt><dd>${v as SafeHtml | string | number}</dd>`)}</dl>`;
}

const copyable = (v: string | null) =>
  v
    ? html`<span class="mono">${v}</span> <button type="button" class="copy" data-copy="${v}" hidden>Copy</button>`
    : null;

function timelineList(t: Timeline, canRedeliver: boolean, ctx: PageContext, paymentId: string): SafeHtml {
  return html`<ol class="timeline" id="timeline">${t.entries.map((e) => {
    const details = Object.entries(e.details).filter(([, v]) => v !== null && v !== '');
    const redeliver =
      canRedeliver && e.type === 'status' && typeof e.details.eventId === 'string'
        ? html`<form method="post" action="/dashboard/payments/${paymentId}/redeliver" data-confirm="Send this event to the webhook targets again?">${ctx.csrf}<input type="hidden" name="eventId" value="${e.details.eventId}"><button type="submit" class="secondary">Redeliver webhook</button></form>`
        : '';
    return html`<li data-type="${e.type}"><time datetime="${e.at}">${nairobiTime(e.at)}</time><strong>${e.summary}</strong>${
      details.length
        ? html`<div class="muted small">${details.map(([k, v], i) => html`${i ? ' · ' : ''}${k}: <span class="mono">${String(v)}</span>`)}</div>`
        : ''
    }${redeliver}</li>`;
  })}</ol>`;
}

export const paymentPages: PageModule = (pages) => {
  pages.get(
    '/payments',
    async (ctx) => {
      const f = filtersOf(ctx.query);
      const cursor = ctx.query.cursor;
      const channels = await channelsOf(ctx);
      let list: PaymentList = { data: [], nextCursor: null };
      let errors: FormErrors | undefined;
      try {
        list = (
          await callApi<PaymentList>(ctx, listPaymentsRoute, { query: { ...apiQuery(f), cursor, limit: 25 } })
        ).body;
      } catch (err) {
        errors = formErrors(err);
        // the API names query fields as they are sent; the form's date fields are from/to too
      }
      const filtered = Object.keys(f).length > 0;
      const body = html`${filterForm(f, channels, errors)}${formError(errors)}
<p class="actions"><a class="button secondary" id="export-csv" href="${exportHref(f)}" download>Export CSV${filtered ? ' (filtered)' : ''}</a></p>
${
  list.data.length
    ? html`${paymentRows(list.data)}${pager({ base: '/dashboard/payments', query: f, nextCursor: list.nextCursor, isFirstPage: !cursor })}`
    : errors
      ? ''
      : emptyState(
          filtered ? 'No payments match these filters' : 'No payments yet',
          filtered
            ? html`<p><a href="/dashboard/payments">Clear the filters</a></p>`
            : html`<p>Payments your integration starts with a ${ctx.session.environment} key appear here.</p>`,
        )
}`;
      return ctx.render({ title: 'Payments', active: 'payments', body }, errors ? 400 : 200);
    },
    { scope: 'payments:read' },
  );

  pages.get(
    '/payments/export.csv',
    async (ctx) => {
      const out = await callApi(ctx, exportPaymentsRoute, { query: apiQuery(filtersOf(ctx.query)) });
      for (const [k, v] of Object.entries(out.headers)) ctx.res.setHeader(k, v);
      ctx.res.status(out.status).type('text/csv');
      await pipeChunks(out.stream!, ctx.res);
      return { kind: 'sent' };
    },
    { scope: 'payments:read' },
  );

  pages.get(
    '/payments/:id',
    async (ctx) => {
      const id = ctx.params.id ?? '';
      const [p, t] = await Promise.all([
        callApi<Payment>(ctx, getPaymentRoute, { params: { id } }),
        callApi<Timeline>(ctx, paymentTimelineRoute, { params: { id } }),
      ]);
      const pay = p.body;
      const tl = t.body;
      const ui = ctx.deps.config.temporalUiUrl;
      const workflowUrl =
        ui && pay.kind === 'stk'
          ? `${ui}/namespaces/${encodeURIComponent(tl.workflow.namespace)}/workflows/${encodeURIComponent(tl.workflow.workflowId)}`
          : undefined;
      const canRedeliver = hasScope(ctx.auth.scopes, 'webhooks:manage');
      const body = html`<p><a href="/dashboard/payments">← All payments</a></p>
<section class="card" aria-labelledby="summary-h"><h2 id="summary-h">${kes(pay.amount)} ${statusBadge(pay.status)}</h2>
${props([
  ['Payment id', copyable(pay.id)],
  ['Created', nairobiTime(pay.createdAt)],
  ['Settled', pay.settledAt ? nairobiTime(pay.settledAt) : null],
  ['Phone', html`<span class="mono">${pay.phone}</span>`],
  ['Reference', pay.reference],
  ['Description', pay.description],
  ['M-Pesa receipt', copyable(pay.mpesaReceipt)],
  ['Result', pay.resultCode ? `${pay.resultCode}: ${pay.resultDesc ?? ''}` : null],
  ['Failure reason', pay.failureReason],
  ['Review reason', pay.reviewReason],
  ['MerchantRequestID', copyable(pay.merchantRequestId)],
  ['CheckoutRequestID', copyable(pay.checkoutRequestId)],
  ['Channel', html`<span class="mono">${pay.channelId}</span>`],
  ['Kind', pay.kind],
])}
${
  workflowUrl
    ? html`<p class="actions"><a class="button secondary" id="temporal-link" href="${workflowUrl}" rel="noopener noreferrer" target="_blank">Open the workflow in the Temporal UI</a></p>`
    : ''
}
</section>
<section aria-labelledby="timeline-h"><h2 id="timeline-h">Timeline</h2>
${tl.workflow.history === 'unavailable' ? html`<p class="flash error" role="status">The workflow history could not be read just now; the timeline shows what the database holds.</p>` : ''}
${timelineList(tl, canRedeliver, ctx, pay.id)}
</section>`;
      return ctx.render({ title: `Payment ${pay.reference}`, active: 'payments', body });
    },
    { scope: 'payments:read' },
  );

  pages.post('/payments/:id/redeliver', async (ctx) => {
    const id = ctx.params.id ?? '';
    const eventId = ctx.form.eventId ?? '';
    // the event must be this payment's: read the timeline (404 for another merchant's payment) first
    const t = await callApi<Timeline>(ctx, paymentTimelineRoute, { params: { id } });
    if (!t.body.entries.some((e) => e.type === 'status' && e.details.eventId === eventId)) {
      throw new MalipoError('RESOURCE_NOT_FOUND', 'Event not found on this payment');
    }
    const r = await callApi<{ data: unknown[] }>(ctx, redeliverEventRoute, {
      params: { id: eventId },
      body: {},
    });
    ctx.flash(
      'ok',
      r.body.data.length
        ? `Redelivery started to ${r.body.data.length} target${r.body.data.length === 1 ? '' : 's'}.`
        : 'This event has no current webhook target.',
    );
    return ctx.redirect(`/dashboard/payments/${id}`);
  });
};
