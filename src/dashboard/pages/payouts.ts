/**
 * Payouts (B2C): the list with the API's filters, a payout's page (status, Daraja's ids, result,
 * receipt), and sending one in two steps. The first POST only checks the form with the API's own body
 * schema and shows "Send KES X to 2547…?"; its confirm form carries a fresh Idempotency-Key and an HMAC
 * (keyed by the session's CSRF token) over the exact payout, so only the confirm POST calls
 * POST /v1/payouts, with that key: a double click, a reload or a resent form joins the first payout.
 */
import crypto from 'node:crypto';
import type { Request } from 'express';
import { MalipoError } from '../../domain/errors';
import { MAX_TRANSACTION_KES } from '../../domain/money';
import { PAYMENT_STATUSES } from '../../domain/payment';
import { PAYOUT_COMMANDS } from '../../domain/payout';
import { normalizePhone } from '../../domain/phone';
import { parseOrThrow } from '../../http/errors';
import { html, type SafeHtml } from '../../http/html';
import {
  createPayoutRoute,
  getPayoutRoute,
  listPayoutsRoute,
  MIN_PAYOUT_KES,
} from '../../http/routes/payouts';
import { canonicalJson } from '../../payments/idempotency';
import { hasScope } from '../../platform/scopes';
import { callApi } from '../api';
import {
  emptyState,
  field,
  formError,
  type FormErrors,
  formErrors,
  kes,
  nairobiTime,
  pager,
  select,
} from '../layout';
import type { PageContext, PageModule } from '../page-types';
import { safeEqual } from '../session';

interface Payout {
  id: string;
  status: string;
  amount: number;
  phone: string;
  commandId: string;
  remarks: string;
  occasion: string | null;
  reference: string;
  channelId: string;
  conversationId: string | null;
  originatorConversationId: string | null;
  mpesaReceipt: string | null;
  receiverName: string | null;
  completedAt: string | null;
  resultCode: string | null;
  resultDesc: string | null;
  failureReason: string | null;
  reviewReason: string | null;
  createdAt: string;
  updatedAt: string;
  settledAt: string | null;
}

/** The body POST /v1/payouts gets from the dashboard (idempotencyKey aside). */
interface PayoutBody {
  phone: string;
  amount: number;
  commandId: string;
  remarks: string;
  occasion?: string | undefined;
  reference: string;
}

/** A confirm form older than this is refused (start again); the key still guards a late resend. */
const CONFIRM_TTL_MS = 30 * 60_000;

const COMMAND_TEXT: Record<string, string> = {
  BusinessPayment: 'Business payment',
  SalaryPayment: 'Salary',
  PromotionPayment: 'Promotion',
};

const FAILURE_TEXT: Record<string, string> = {
  rejected: 'M-Pesa rejected the payout',
  insufficient_funds: 'Not enough money in the B2C account',
  recipient_invalid: 'The recipient cannot receive M-Pesa payouts',
  queue_timeout: 'M-Pesa timed out before processing it',
  ambiguous_initiation: 'It is unknown whether M-Pesa received the request',
  result_missing: 'M-Pesa never sent the result',
  amount_mismatch: 'M-Pesa reported a different amount',
};

const badge = (status: string) => html`<span class="badge ${status}">${status.replace('_', ' ')}</span>`;

function signature(ctx: PageContext, key: string, issuedAt: string, body: PayoutBody): string {
  return crypto
    .createHmac('sha256', ctx.session.csrfToken)
    .update(`payout-confirm\n${key}\n${issuedAt}\n${canonicalJson(body)}`)
    .digest('base64url');
}

/** The form's fields as the API's body (amount as a number when it is one), before any check. */
function bodyOf(f: Record<string, string>): Record<string, unknown> {
  const amount = (f.amount ?? '').replace(/[\s,]/g, '');
  const occasion = (f.occasion ?? '').trim();
  return {
    phone: f.phone ?? '',
    amount: /^\d{1,9}$/.test(amount) ? Number(amount) : amount,
    commandId: f.commandId || 'BusinessPayment',
    remarks: f.remarks ?? '',
    ...(occasion ? { occasion } : {}),
    reference: (f.reference ?? '').trim(),
  };
}

/** The API's own checks of a payout body, without sending it: its zod schema, phone, amount, minimum. */
function checkPayout(raw: Record<string, unknown>): PayoutBody {
  const errs: Record<string, string> = {};
  if (typeof raw.amount !== 'number') errs.amount = 'Enter whole KES, digits only, e.g. 500';
  const phone = normalizePhone(raw.phone);
  if (!phone.ok) errs.phone = phone.reason;
  let parsed: PayoutBody | undefined;
  try {
    parsed = parseOrThrow(createPayoutRoute.request.body!, raw, 'form') as PayoutBody;
  } catch (err) {
    for (const [k, v] of Object.entries(formErrors(err).fields)) if (!(k in errs)) errs[k] = v;
  }
  if (!errs.amount && typeof raw.amount === 'number') {
    if (raw.amount < MIN_PAYOUT_KES) errs.amount = `A payout must be at least ${kes(MIN_PAYOUT_KES)}`;
    else if (raw.amount > MAX_TRANSACTION_KES)
      errs.amount = `M-Pesa sends at most ${kes(MAX_TRANSACTION_KES)}`;
  }
  if (Object.keys(errs).length || !parsed || !phone.ok) {
    throw new MalipoError('VALIDATION_ERROR', 'Check the highlighted fields', {
      details: Object.entries(errs).map(([path, message]) => ({ path, message, code: 'custom' })),
    });
  }
  return {
    phone: phone.msisdn,
    amount: parsed.amount,
    commandId: parsed.commandId,
    remarks: parsed.remarks,
    ...(parsed.occasion ? { occasion: parsed.occasion } : {}),
    reference: parsed.reference,
  };
}

function payoutForm(ctx: PageContext, v: Record<string, string>, errors?: FormErrors, status = 200) {
  const f = errors?.fields ?? {};
  return ctx.render(
    {
      title: 'New payout',
      active: 'payouts',
      body: html`<p><a href="/dashboard/payouts">← Payouts</a></p>
<p class="muted">Sends money from your B2C shortcode to an M-Pesa customer. You confirm on the next page before anything is sent.</p>
${formError(errors)}<form method="post" action="/dashboard/payouts/new" class="card" id="payout-form" novalidate>
${ctx.csrf}
${field({ name: 'phone', label: 'Recipient phone number', type: 'tel', value: v.phone, hint: 'A Safaricom number, e.g. 0712 345 678', autocomplete: 'off', required: true, error: f.phone })}
${field({ name: 'amount', label: 'Amount (KES)', value: v.amount, hint: `Whole KES, ${MIN_PAYOUT_KES} to ${MAX_TRANSACTION_KES.toLocaleString('en-KE')}`, autocomplete: 'off', required: true, error: f.amount })}
${select({ name: 'commandId', label: 'Kind of payment', value: v.commandId || 'BusinessPayment', error: f.commandId, options: PAYOUT_COMMANDS.map((c) => ({ value: c, label: COMMAND_TEXT[c] ?? c })) })}
${field({ name: 'remarks', label: 'Remarks', value: v.remarks, hint: 'Sent to M-Pesa with the payout, 2 to 100 characters', required: true, error: f.remarks })}
${field({ name: 'occasion', label: 'Occasion (optional)', value: v.occasion, error: f.occasion })}
${field({ name: 'reference', label: 'Your reference', value: v.reference, hint: 'For your records: letters, digits, dot, dash, underscore', required: true, error: f.reference })}
<button type="submit" class="primary">Continue</button>
</form>`,
    },
    status,
  );
}

function hidden(fields: Record<string, string | number | undefined>): SafeHtml {
  return html`${Object.entries(fields).map(([k, v]) =>
    v === undefined ? '' : html`<input type="hidden" name="${k}" value="${String(v)}">`,
  )}`;
}

function confirmPage(ctx: PageContext, body: PayoutBody, key: string, issuedAt: string) {
  const sig = signature(ctx, key, issuedAt, body);
  return ctx.render({
    title: 'Confirm the payout',
    active: 'payouts',
    body: html`<div class="card" id="payout-confirm">
<p class="confirm-q">Send <strong id="confirm-amount">${kes(body.amount)}</strong> to <strong class="mono" id="confirm-phone">${body.phone}</strong>?</p>
<dl class="props">
<dt>Kind</dt><dd>${COMMAND_TEXT[body.commandId] ?? body.commandId}</dd>
<dt>Remarks</dt><dd>${body.remarks}</dd>
${body.occasion ? html`<dt>Occasion</dt><dd>${body.occasion}</dd>` : ''}
<dt>Reference</dt><dd>${body.reference}</dd>
<dt>Data</dt><dd>${ctx.session.environment === 'live' ? 'Live: real money leaves your account' : 'Test'}</dd>
</dl>
<p class="muted small">M-Pesa cannot reverse a payout from here. Check the number.</p>
<div class="actions">
<form method="post" action="/dashboard/payouts/confirm" id="payout-confirm-form">${ctx.csrf}${hidden({ ...body, key, issuedAt, sig })}<button type="submit" class="primary">Send ${kes(body.amount)}</button></form>
<form method="post" action="/dashboard/payouts/new">${ctx.csrf}${hidden({ ...body, edit: '1' })}<button type="submit" class="secondary">Change</button></form>
</div></div>`,
  });
}

function detailRows(p: Payout): SafeHtml {
  const row = (label: string, value: string | null, id?: string) =>
    html`<dt>${label}</dt><dd${id ? html` id="${id}"` : ''}${value ? '' : html` class="muted"`}>${value ?? '–'}</dd>`;
  return html`<dl class="props card" id="payout-details">
<dt>Status</dt><dd id="payout-status">${badge(p.status)}</dd>
${row('Amount', kes(p.amount))}
${row('Recipient', p.phone, 'payout-phone')}
${row('Recipient name', p.receiverName)}
${row('Receipt', p.mpesaReceipt, 'payout-receipt')}
${p.failureReason ? row('Why it failed', FAILURE_TEXT[p.failureReason] ?? p.failureReason) : ''}
${p.reviewReason ? row('Why it needs review', FAILURE_TEXT[p.reviewReason] ?? p.reviewReason) : ''}
${row('Result', p.resultCode === null ? null : `${p.resultCode}: ${p.resultDesc ?? ''}`, 'payout-result')}
${row('Kind', COMMAND_TEXT[p.commandId] ?? p.commandId)}
${row('Remarks', p.remarks)}
${row('Occasion', p.occasion)}
${row('Reference', p.reference)}
${row('ConversationID', p.conversationId, 'payout-conversation')}
${row('OriginatorConversationID', p.originatorConversationId)}
${row('Completed (M-Pesa)', p.completedAt)}
${row('Created', nairobiTime(p.createdAt))}
${row('Settled', p.settledAt ? nairobiTime(p.settledAt) : null)}
${row('Channel', p.channelId)}
${row('Id', p.id)}
</dl>`;
}

/** The request as the payout route sees it: the API body (hashed for the Idempotency-Key), not the form. */
const apiRequest = (req: Request, body: PayoutBody & { idempotencyKey: string }): Request => {
  const { idempotencyKey: _k, ...hashed } = body;
  return Object.create(req, { body: { value: hashed, enumerable: true } }) as Request;
};

export const payoutPages: PageModule = (pages) => {
  pages.get('/payouts', async (ctx) => {
    const filters = {
      status: (PAYMENT_STATUSES as readonly string[]).includes(ctx.query.status ?? '')
        ? ctx.query.status
        : '',
      reference: (ctx.query.reference ?? '').trim().slice(0, 64),
      phone: (ctx.query.phone ?? '').trim().slice(0, 20),
    };
    let list: { data: Payout[]; nextCursor: string | null } = { data: [], nextCursor: null };
    let errors: FormErrors | undefined;
    try {
      list = (
        await callApi<typeof list>(ctx, listPayoutsRoute, {
          query: { ...filters, cursor: ctx.query.cursor, limit: 20 },
        })
      ).body;
    } catch (err) {
      if (err instanceof MalipoError && err.status === 403) throw err;
      errors = formErrors(err);
    }
    const filtered = Boolean(filters.status || filters.reference || filters.phone);
    const f = errors?.fields ?? {};
    const body = html`${
      hasScope(ctx.auth.scopes, 'payouts:create')
        ? html`<p class="actions top"><a class="button" href="/dashboard/payouts/new">New payout</a></p>`
        : ''
    }
<form method="get" action="/dashboard/payouts" class="card filters" role="search" aria-label="Filter payouts">
${select({ name: 'status', label: 'Status', value: filters.status, options: [{ value: '', label: 'Any' }, ...PAYMENT_STATUSES.map((s) => ({ value: s, label: s.replace('_', ' ') }))] })}
${field({ name: 'reference', label: 'Reference', type: 'search', value: filters.reference, error: f.reference })}
${field({ name: 'phone', label: 'Recipient phone', type: 'search', value: filters.phone, error: f.phone })}
<div class="field"><button type="submit" class="secondary">Filter</button>${filtered ? html` <a href="/dashboard/payouts">Clear</a>` : ''}</div>
</form>
${formError(errors)}
${
  list.data.length
    ? html`<div class="table-wrap"><table id="payouts"><thead><tr><th scope="col">Created</th><th scope="col">Status</th><th scope="col" class="num">Amount</th><th scope="col">Recipient</th><th scope="col" class="hide-sm">Reference</th><th scope="col" class="hide-sm">Receipt</th></tr></thead><tbody>
${list.data.map(
  (p) =>
    html`<tr data-payout-id="${p.id}"><td><a href="/dashboard/payouts/${p.id}">${nairobiTime(p.createdAt)}</a></td><td>${badge(p.status)}</td><td class="num">${kes(p.amount)}</td><td class="mono nowrap">${p.phone}</td><td class="hide-sm">${p.reference}</td><td class="hide-sm mono">${p.mpesaReceipt ?? '–'}</td></tr>`,
)}
</tbody></table></div>`
    : errors
      ? ''
      : emptyState(
          filtered ? 'No payouts match these filters' : 'No payouts yet',
          filtered
            ? html`<p><a href="/dashboard/payouts">Show all payouts</a></p>`
            : html`<p>Payouts send money to M-Pesa customers from your B2C shortcode. Start one here or with <span class="mono">POST /v1/payouts</span>.</p>`,
        )
}
${pager({ base: '/dashboard/payouts', query: filters, nextCursor: list.nextCursor, isFirstPage: !ctx.query.cursor })}`;
    return ctx.render({ title: 'Payouts', active: 'payouts', body });
  });

  pages.get('/payouts/new', (ctx) => payoutForm(ctx, {}), { scope: 'payouts:create' });

  // step 1: check, then ask; never calls POST /v1/payouts
  pages.post(
    '/payouts/new',
    (ctx) => {
      const v = ctx.form;
      if (v.edit === '1') return payoutForm(ctx, v);
      try {
        const body = checkPayout(bodyOf(v));
        const key = `dash_${crypto.randomBytes(24).toString('base64url')}`;
        return confirmPage(ctx, body, key, ctx.now.toISOString());
      } catch (err) {
        return payoutForm(ctx, v, formErrors(err), 400);
      }
    },
    { scope: 'payouts:create' },
  );

  // step 2: the signed confirmation, sent with its Idempotency-Key
  pages.post(
    '/payouts/confirm',
    async (ctx) => {
      const v = ctx.form;
      const key = v.key ?? '';
      const issuedAt = v.issuedAt ?? '';
      let body: PayoutBody;
      try {
        body = checkPayout(bodyOf(v));
      } catch (err) {
        return payoutForm(ctx, v, formErrors(err), 400);
      }
      const age = ctx.now.getTime() - Date.parse(issuedAt);
      const signed =
        /^dash_[A-Za-z0-9_-]{32}$/.test(key) && safeEqual(v.sig ?? '', signature(ctx, key, issuedAt, body));
      if (!signed || !(age >= -60_000 && age <= CONFIRM_TTL_MS)) {
        return payoutForm(
          ctx,
          v,
          {
            message: signed
              ? 'This confirmation has expired: nothing was sent. Check the payout and confirm it again.'
              : 'This confirmation does not match the payout it was made for: nothing was sent. Check the payout and confirm it again.',
            fields: {},
          },
          400,
        );
      }
      const apiBody = { ...body, idempotencyKey: key };
      try {
        const r = await callApi<Payout>({ ...ctx, req: apiRequest(ctx.req, apiBody) }, createPayoutRoute, {
          body: apiBody,
        });
        const again = r.headers['Idempotent-Replayed'] === 'true';
        ctx.flash(
          'ok',
          again
            ? `This payout was already sent: ${kes(r.body.amount)} to ${r.body.phone}. Nothing more was sent.`
            : `Payout of ${kes(r.body.amount)} to ${r.body.phone} sent to M-Pesa.`,
        );
        return ctx.redirect(`/dashboard/payouts/${r.body.id}`);
      } catch (err) {
        if (err instanceof MalipoError && err.code === 'IDEMPOTENCY_KEY_IN_USE') {
          ctx.flash('ok', 'This payout is already being sent. It appears below in a moment.');
          return ctx.redirect(`/dashboard/payouts?reference=${encodeURIComponent(body.reference)}`);
        }
        if (err instanceof MalipoError && err.status === 403) throw err;
        return payoutForm(ctx, v, formErrors(err), err instanceof MalipoError ? err.status : 400);
      }
    },
    { scope: 'payouts:create' },
  );

  pages.get('/payouts/:id', async (ctx) => {
    const p = (await callApi<Payout>(ctx, getPayoutRoute, { params: { id: ctx.params.id ?? '' } })).body;
    const body = html`<p><a href="/dashboard/payouts">← Payouts</a></p>
<p class="confirm-q"><strong>${kes(p.amount)}</strong> to <span class="mono">${p.phone}</span></p>
${p.status === 'pending' ? html`<p class="muted">M-Pesa has not answered yet. <a href="/dashboard/payouts/${p.id}">Refresh</a></p>` : ''}
${detailRows(p)}`;
    return ctx.render({ title: `Payout ${p.reference}`, active: 'payouts', body });
  });
};
