/**
 * Payment links: the list (with each link's stats), create, edit, disable (after a confirmation page)
 * and enable again; a link's page has its URL as text with a copy button, a QR code of the URL
 * (an SVG rendered here, same origin), its stats from GET /v1/payment-links/:id/stats, and its payments.
 * Everything goes through the /v1 payment-link routes, so `links:manage` decides who may see and change.
 */
import QRCode from 'qrcode';
import { MalipoError } from '../../domain/errors';
import { MAX_TRANSACTION_KES } from '../../domain/money';
import { html, type SafeHtml } from '../../http/html';
import {
  createPaymentLinkRoute,
  disablePaymentLinkRoute,
  getPaymentLinkRoute,
  listPaymentLinksRoute,
  updatePaymentLinkRoute,
} from '../../http/routes/payment-links';
import { type PaymentLinkStats, paymentLinkStatsRoute } from '../../http/routes/payment-link-stats';
import { listPaymentsRoute } from '../../http/routes/payments';
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
} from '../layout';
import type { PageContext, PageModule } from '../page-types';

type LinkAmount = number | { min: number; max: number };

interface Link {
  id: string;
  url: string;
  title: string;
  description: string | null;
  reference: string;
  amount: LinkAmount;
  logoUrl: string | null;
  expiresAt: string | null;
  maxPayments: number | null;
  status: 'active' | 'disabled' | 'expired' | 'exhausted';
  stats: { payments: number; successfulPayments: number; amountCollected: number };
  createdAt: string;
}

interface LinkPayment {
  id: string;
  status: string;
  amount: number;
  phone: string;
  mpesaReceipt: string | null;
  createdAt: string;
}

/** What the create and edit forms hold, as typed. */
interface LinkForm {
  title?: string | undefined;
  amount?: string | undefined;
  amountMin?: string | undefined;
  amountMax?: string | undefined;
  reference?: string | undefined;
  description?: string | undefined;
  logoUrl?: string | undefined;
  expiresOn?: string | undefined;
  maxPayments?: string | undefined;
}

const STATUS_TEXT: Record<Link['status'], string> = {
  active: 'active',
  disabled: 'disabled',
  expired: 'expired',
  exhausted: 'limit reached',
};

const linkBadge = (s: Link['status']) => html`<span class="badge ${s}">${STATUS_TEXT[s]}</span>`;

export const amountText = (a: LinkAmount): string =>
  typeof a === 'number' ? kes(a) : `${kes(a.min)} – ${kes(a.max)}`;

/** The Nairobi calendar date of an instant, `YYYY-MM-DD` (what a date input shows). */
const nairobiDate = (iso: string): string =>
  new Date(new Date(iso).getTime() + 3 * 3600_000).toISOString().slice(0, 10);

const percent = (r: number | null) => (r === null ? '–' : `${Math.round(r * 1000) / 10}%`);

function invalid(fields: Record<string, string>): MalipoError {
  return new MalipoError('VALIDATION_ERROR', 'Check the highlighted fields', {
    details: Object.entries(fields).map(([path, message]) => ({ path, message, code: 'custom' })),
  });
}

/** A form's errors, with the API's paths (`amount.min`, `expiresAt`) named as the form's fields. */
function linkFormErrors(err: unknown): FormErrors {
  // not a form problem: no such link, or the role may not (the error page says so)
  if (err instanceof MalipoError && (err.status === 403 || err.status === 404)) throw err;
  const e = formErrors(err);
  const rename: Record<string, string> = {
    'amount.min': 'amountMin',
    'amount.max': 'amountMax',
    expiresAt: 'expiresOn',
  };
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.fields)) fields[rename[k] ?? k] = v;
  return { message: e.message, fields };
}

function whole(v: string | undefined, name: string, errs: Record<string, string>): number | undefined {
  const s = (v ?? '').replace(/[\s,]/g, '');
  if (s === '') return undefined;
  if (!/^\d{1,9}$/.test(s)) {
    errs[name] = 'Enter whole KES, digits only, e.g. 1500';
    return undefined;
  }
  const n = Number(s);
  if (n < 1) errs[name] = 'Enter at least 1 KES';
  else if (n > MAX_TRANSACTION_KES) errs[name] = `M-Pesa takes at most ${kes(MAX_TRANSACTION_KES)}`;
  return n;
}

/** The form's amount: a fixed amount, or a range the customer chooses in. */
function amountOf(f: LinkForm, errs: Record<string, string>): LinkAmount | undefined {
  const fixed = whole(f.amount, 'amount', errs);
  const min = whole(f.amountMin, 'amountMin', errs);
  const max = whole(f.amountMax, 'amountMax', errs);
  if (Object.keys(errs).length) return undefined;
  if (fixed !== undefined) {
    if (min !== undefined || max !== undefined) {
      errs.amount = 'Give either a fixed amount or a range, not both';
      return undefined;
    }
    return fixed;
  }
  if (min === undefined && max === undefined) {
    errs.amount = 'Enter the amount, or a minimum and a maximum';
    return undefined;
  }
  if (min === undefined) errs.amountMin = 'Enter the smallest amount the customer may pay';
  if (max === undefined) errs.amountMax = 'Enter the largest amount the customer may pay';
  if (min !== undefined && max !== undefined && min > max) errs.amountMax = 'Must not be below the minimum';
  return Object.keys(errs).length ? undefined : { min: min!, max: max! };
}

function expiryOf(v: string | undefined, errs: Record<string, string>): string | undefined {
  const s = (v ?? '').trim();
  if (s === '') return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s) || Number.isNaN(Date.parse(`${s}T23:59:59+03:00`))) {
    errs.expiresOn = 'Enter a date as YYYY-MM-DD';
    return undefined;
  }
  // the link works to the end of that day in Nairobi
  return `${s}T23:59:59+03:00`;
}

function maxPaymentsOf(v: string | undefined, errs: Record<string, string>): number | undefined {
  const s = (v ?? '').trim();
  if (s === '') return undefined;
  if (!/^\d{1,7}$/.test(s) || Number(s) < 1) {
    errs.maxPayments = 'Enter a whole number of payments, at least 1';
    return undefined;
  }
  return Number(s);
}

const text = (v: string | undefined) => {
  const s = (v ?? '').trim();
  return s === '' ? undefined : s;
};

function linkFormFields(v: LinkForm, errors: FormErrors | undefined): SafeHtml {
  const f = errors?.fields ?? {};
  return html`${field({ name: 'title', label: 'Title', value: v.title, hint: 'The heading of the pay page, e.g. Order 1042', required: true, error: f.title })}
${field({ name: 'amount', label: 'Fixed amount (KES)', type: 'text', value: v.amount, hint: 'Whole KES. Leave empty to let the customer choose within a range.', error: f.amount, autocomplete: 'off' })}
<fieldset class="range"><legend>Or a range the customer chooses in (KES)</legend>
${field({ name: 'amountMin', label: 'Minimum', value: v.amountMin, error: f.amountMin, autocomplete: 'off' })}
${field({ name: 'amountMax', label: 'Maximum', value: v.amountMax, error: f.amountMax, autocomplete: 'off' })}
</fieldset>
${field({ name: 'reference', label: 'Reference (optional)', value: v.reference, hint: 'Shown on the M-Pesa prompt, at most 12 letters or digits. Default: from the title.', error: f.reference })}
${field({ name: 'description', label: 'Description (optional)', value: v.description, error: f.description })}
${field({ name: 'logoUrl', label: 'Logo URL (optional)', value: v.logoUrl, hint: 'An https image shown on the pay page', error: f.logoUrl })}
${field({ name: 'expiresOn', label: 'Last day (optional)', type: 'date', value: v.expiresOn, hint: 'The link stops taking payments after this day (Nairobi time)', error: f.expiresOn })}
${field({ name: 'maxPayments', label: 'Maximum payments (optional)', type: 'number', value: v.maxPayments, hint: 'The link closes after this many successful payments', error: f.maxPayments })}`;
}

function formOfLink(l: Link): LinkForm {
  return {
    title: l.title,
    amount: typeof l.amount === 'number' ? String(l.amount) : '',
    amountMin: typeof l.amount === 'number' ? '' : String(l.amount.min),
    amountMax: typeof l.amount === 'number' ? '' : String(l.amount.max),
    reference: l.reference,
    description: l.description ?? '',
    logoUrl: l.logoUrl ?? '',
    expiresOn: l.expiresAt ? nairobiDate(l.expiresAt) : '',
    maxPayments: l.maxPayments === null ? '' : String(l.maxPayments),
  };
}

function newPage(ctx: PageContext, v: LinkForm, errors?: FormErrors, status = 200) {
  return ctx.render(
    {
      title: 'New payment link',
      active: 'links',
      body: html`<p><a href="/dashboard/links">← Payment links</a></p>
${formError(errors)}<form method="post" action="/dashboard/links" class="card" id="link-form" novalidate>
${ctx.csrf}
${linkFormFields(v, errors)}
<button type="submit" class="primary">Create link</button>
</form>`,
    },
    status,
  );
}

function editPage(ctx: PageContext, link: Link, v: LinkForm, errors?: FormErrors, status = 200) {
  return ctx.render(
    {
      title: `Edit ${link.title}`,
      active: 'links',
      body: html`<p><a href="/dashboard/links/${link.id}">← ${link.title}</a></p>
${formError(errors)}<form method="post" action="/dashboard/links/${link.id}/edit" class="card" id="link-form" novalidate>
${ctx.csrf}
${linkFormFields(v, errors)}
<button type="submit" class="primary">Save changes</button>
</form>`,
    },
    status,
  );
}

function paymentsTable(list: LinkPayment[]): SafeHtml {
  return html`<div class="table-wrap"><table id="link-payments"><thead><tr><th scope="col">Created</th><th scope="col">Status</th><th scope="col" class="num">Amount</th><th scope="col" class="hide-sm">Phone</th><th scope="col">Receipt</th></tr></thead><tbody>
${list.map(
  (p) =>
    html`<tr data-payment-id="${p.id}"><td><a href="/dashboard/payments/${p.id}">${nairobiTime(p.createdAt)}</a></td><td><span class="badge ${p.status}">${p.status.replace('_', ' ')}</span></td><td class="num">${kes(p.amount)}</td><td class="hide-sm mono">${p.phone}</td><td class="mono">${p.mpesaReceipt ?? '–'}</td></tr>`,
)}
</tbody></table></div>`;
}

const getLink = async (ctx: PageContext, id: string) =>
  (await callApi<Link>(ctx, getPaymentLinkRoute, { params: { id } })).body;

export const linkPages: PageModule = (pages) => {
  pages.get('/links', async (ctx) => {
    const list = await callApi<{ data: Link[]; nextCursor: string | null }>(ctx, listPaymentLinksRoute, {
      query: { limit: 20, cursor: ctx.query.cursor },
    });
    const links = list.body.data;
    const rows = html`<div class="table-wrap"><table id="links"><thead><tr><th scope="col">Title</th><th scope="col">Status</th><th scope="col" class="num hide-sm">Amount</th><th scope="col" class="num hide-sm">Paid</th><th scope="col" class="num">Collected</th><th scope="col" class="hide-sm">Created</th></tr></thead><tbody>
${links.map(
  (l) =>
    html`<tr data-link-id="${l.id}"><td><a href="/dashboard/links/${l.id}">${l.title}</a><span class="show-sm muted small">${amountText(l.amount)} · ${l.stats.successfulPayments} of ${l.stats.payments} paid</span></td><td>${linkBadge(l.status)}</td><td class="num hide-sm">${amountText(l.amount)}</td><td class="num hide-sm">${l.stats.successfulPayments} of ${l.stats.payments}</td><td class="num">${kes(l.stats.amountCollected)}</td><td class="hide-sm">${nairobiTime(l.createdAt)}</td></tr>`,
)}
</tbody></table></div>`;
    const body = html`<p class="actions top"><a class="button" href="/dashboard/links/new">New payment link</a></p>
${
  links.length
    ? rows
    : emptyState(
        ctx.query.cursor ? 'No older links' : 'No payment links yet',
        html`<p>A payment link is a page you share (by chat, email or a printed QR code) where customers pay you with M-Pesa. <a href="/dashboard/links/new">Create your first link</a>.</p>`,
      )
}
${pager({ base: '/dashboard/links', query: {}, nextCursor: list.body.nextCursor, isFirstPage: !ctx.query.cursor })}`;
    return ctx.render({ title: 'Payment links', active: 'links', body });
  });

  pages.get(
    '/links/new',
    (ctx) => newPage(ctx, {}),
    // the API's rule, checked before the form is shown rather than after it is filled in
    { scope: 'links:manage' },
  );

  pages.post('/links', async (ctx) => {
    const v: LinkForm = ctx.form;
    try {
      const errs: Record<string, string> = {};
      const amount = amountOf(v, errs);
      const expiresAt = expiryOf(v.expiresOn, errs);
      const maxPayments = maxPaymentsOf(v.maxPayments, errs);
      if (Object.keys(errs).length) throw invalid(errs);
      const r = await callApi<Link>(ctx, createPaymentLinkRoute, {
        body: {
          title: v.title ?? '',
          amount,
          reference: text(v.reference),
          description: text(v.description),
          logoUrl: text(v.logoUrl),
          expiresAt,
          maxPayments,
        },
      });
      ctx.flash('ok', `Payment link “${r.body.title}” created. Share its URL or QR code.`);
      return ctx.redirect(`/dashboard/links/${r.body.id}`);
    } catch (err) {
      return newPage(ctx, v, linkFormErrors(err), 400);
    }
  });

  pages.get('/links/:id', async (ctx) => {
    const link = await getLink(ctx, ctx.params.id ?? '');
    const stats = (await callApi<PaymentLinkStats>(ctx, paymentLinkStatsRoute, { params: { id: link.id } }))
      .body;
    const canReadPayments = hasScope(ctx.auth.scopes, 'payments:read');
    const payments = canReadPayments
      ? (
          await callApi<{ data: LinkPayment[]; nextCursor: string | null }>(ctx, listPaymentsRoute, {
            query: { linkId: link.id, limit: 20 },
          })
        ).body
      : { data: [], nextCursor: null };
    const body = html`<p><a href="/dashboard/links">← Payment links</a></p>
<section class="card link-share" aria-labelledby="share-h">
<div class="share-text">
<h2 id="share-h">Share</h2>
<p>${linkBadge(link.status)} <span class="muted">${amountText(link.amount)} · reference <span class="mono">${link.reference}</span></span></p>
<p class="url"><span class="mono" id="link-url">${link.url}</span> <button type="button" class="copy" data-copy="${link.url}" hidden>Copy URL</button></p>
<p class="actions"><a class="button secondary" href="${link.url}" target="_blank" rel="noopener">Open the pay page</a>
<a class="button secondary" href="/dashboard/links/${link.id}/qr.svg?download=1" download="${link.id}.svg">Download QR code</a></p>
</div>
<img class="qr" src="/dashboard/links/${link.id}/qr.svg" width="200" height="200" alt="QR code of ${link.url}">
</section>
<h2>Stats</h2>
<div class="stats" id="link-stats">
<div class="stat"><small>Payments started</small><b data-stat="payments">${stats.payments}</b></div>
<div class="stat"><small>Paid</small><b data-stat="paid">${stats.paid}</b></div>
<div class="stat"><small>Collected</small><b data-stat="paidAmount">${kes(stats.paidAmount)}</b></div>
<div class="stat"><small>Pending</small><b data-stat="pending">${stats.pending}</b></div>
<div class="stat"><small>Conversion</small><b data-stat="conversion">${percent(stats.conversion)}</b></div>
</div>
${stats.failed || stats.needsReview ? html`<p class="muted small">${stats.failed} failed, ${stats.needsReview} waiting for review.</p>` : ''}
<h2>Details</h2>
<dl class="props card">
<dt>Title</dt><dd>${link.title}</dd>
<dt>Description</dt><dd>${link.description ?? '–'}</dd>
<dt>Last day</dt><dd>${link.expiresAt ? nairobiTime(link.expiresAt) : 'No end date'}</dd>
<dt>Maximum payments</dt><dd>${link.maxPayments ?? 'No limit'}</dd>
<dt>Created</dt><dd>${nairobiTime(link.createdAt)}</dd>
<dt>Id</dt><dd class="mono">${link.id}</dd>
</dl>
<p class="actions"><a class="button secondary" href="/dashboard/links/${link.id}/edit">Edit</a>
${
  link.status === 'disabled'
    ? html`<form method="post" action="/dashboard/links/${link.id}/enable">${ctx.csrf}<button type="submit" class="secondary">Enable again</button></form>`
    : html`<a class="button danger" href="/dashboard/links/${link.id}/disable">Disable…</a>`
}</p>
<h2>Payments</h2>
${
  !canReadPayments
    ? html`<p class="muted">Your role cannot read payments.</p>`
    : payments.data.length
      ? html`${paymentsTable(payments.data)}${payments.nextCursor ? html`<p><a href="/dashboard/payments?linkId=${link.id}">All payments of this link →</a></p>` : ''}`
      : emptyState('No payments yet', html`<p>Payments made on the pay page appear here.</p>`)
}`;
    return ctx.render({ title: link.title, active: 'links', body });
  });

  pages.get('/links/:id/qr.svg', async (ctx) => {
    const link = await getLink(ctx, ctx.params.id ?? '');
    const svg = await QRCode.toString(link.url, {
      type: 'svg',
      errorCorrectionLevel: 'M',
      margin: 2,
      color: { dark: '#000000', light: '#ffffff' },
    });
    return ctx.raw('image/svg+xml', svg, {
      'Cache-Control': 'private, max-age=300',
      ...(ctx.query.download ? { 'Content-Disposition': `attachment; filename="${link.id}.svg"` } : {}),
    });
  });

  pages.get('/links/:id/edit', async (ctx) => {
    const link = await getLink(ctx, ctx.params.id ?? '');
    return editPage(ctx, link, formOfLink(link));
  });

  pages.post('/links/:id/edit', async (ctx) => {
    const link = await getLink(ctx, ctx.params.id ?? '');
    const v: LinkForm = ctx.form;
    try {
      const errs: Record<string, string> = {};
      const amount = amountOf(v, errs);
      const expiresOn = (v.expiresOn ?? '').trim();
      const was = link.expiresAt ? nairobiDate(link.expiresAt) : '';
      // an unchanged (maybe past) last day is not sent again
      const expiresAt = expiresOn === was ? undefined : (expiryOf(expiresOn, errs) ?? null);
      const maxPayments = maxPaymentsOf(v.maxPayments, errs) ?? null;
      if (Object.keys(errs).length) throw invalid(errs);
      await callApi<Link>(ctx, updatePaymentLinkRoute, {
        params: { id: link.id },
        body: {
          title: v.title ?? '',
          amount,
          ...(text(v.reference) ? { reference: text(v.reference) } : {}),
          description: text(v.description) ?? null,
          logoUrl: text(v.logoUrl) ?? null,
          ...(expiresAt === undefined ? {} : { expiresAt }),
          maxPayments,
        },
      });
      ctx.flash('ok', 'Payment link saved.');
      return ctx.redirect(`/dashboard/links/${link.id}`);
    } catch (err) {
      return editPage(ctx, link, v, linkFormErrors(err), 400);
    }
  });

  pages.get('/links/:id/disable', async (ctx) => {
    const link = await getLink(ctx, ctx.params.id ?? '');
    return ctx.render({
      title: `Disable ${link.title}?`,
      active: 'links',
      body: html`<div class="card" id="disable-confirm"><p>Customers who open <span class="mono">${link.url}</span> will see that the link is no longer active, and it takes no more payments. Payments already made are kept. You can enable it again later.</p>
<form method="post" action="/dashboard/links/${link.id}/disable" class="actions">${ctx.csrf}<button type="submit" class="danger">Disable the link</button> <a class="button secondary" href="/dashboard/links/${link.id}">Keep it active</a></form></div>`,
    });
  });

  pages.post('/links/:id/disable', async (ctx) => {
    const r = await callApi<Link>(ctx, disablePaymentLinkRoute, { params: { id: ctx.params.id ?? '' } });
    ctx.flash('ok', `“${r.body.title}” is disabled: its page takes no more payments.`);
    return ctx.redirect(`/dashboard/links/${r.body.id}`);
  });

  pages.post('/links/:id/enable', async (ctx) => {
    const r = await callApi<Link>(ctx, updatePaymentLinkRoute, {
      params: { id: ctx.params.id ?? '' },
      body: { status: 'active' },
    });
    ctx.flash('ok', `“${r.body.title}” is active again.`);
    return ctx.redirect(`/dashboard/links/${r.body.id}`);
  });
};
