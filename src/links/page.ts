/**
 * The hosted pay page, rendered on the server: the form, the payment's state (check your phone,
 * success with the receipt, failure with "try again"), and the pages for unavailable links.
 * No inline script or style and nothing from another origin except the merchant's https logo.
 */
import { esc, strictCsp } from '../http/html';
import type { PaymentView } from '../payments/repository';
import { amountOf, type LinkRow, type LinkStatus } from './links';
import { type FieldErrors, kes, publicState } from './pay';

export { esc };

/** `254712345678` → `07•• ••• 678`: the customer recognises it, a passer-by learns little. */
export function localMask(msisdn: string): string {
  return `0${msisdn.slice(3, 4)}•• ••• ${msisdn.slice(-3)}`;
}

/** The origin a logo may load from (https only), for the page's img-src. */
export function logoOrigin(logoUrl: string | null): string | undefined {
  if (!logoUrl) return undefined;
  try {
    const u = new URL(logoUrl);
    return u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

/** The pay pages' policy: own script and style files, the logo's origin for images, nothing else. */
export function contentSecurityPolicy(opts: { logoUrl?: string | null; https: boolean }): string {
  const logo = logoOrigin(opts.logoUrl ?? null);
  return strictCsp({ img: logo ? [logo] : [], connectSelf: true, https: opts.https });
}

export interface PageMeta {
  merchantName: string;
}

function layout(title: string, body: string, opts: { refresh?: boolean } = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>${esc(title)}</title>
<link rel="icon" href="/pay/assets/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/pay/assets/pay.css">
${opts.refresh ? '<noscript><meta http-equiv="refresh" content="3"></noscript>\n' : ''}<script src="/pay/assets/pay.js" defer></script>
</head>
<body>
<main>
${body}
<p class="foot">Secured payment with M-Pesa · powered by Malipo</p>
</main>
</body>
</html>
`;
}

function merchantHeader(link: LinkRow, meta: PageMeta): string {
  const logo = logoOrigin(link.logo_url) ? link.logo_url : null;
  const initial = esc((meta.merchantName.trim()[0] ?? 'M').toUpperCase());
  return `<div class="merchant">${
    logo
      ? `<img src="${esc(logo)}" alt="${esc(meta.merchantName)} logo" width="48" height="48">`
      : `<span class="initial" aria-hidden="true">${initial}</span>`
  }<p>Pay <strong>${esc(meta.merchantName)}</strong></p></div>`;
}

export interface FormState {
  formKey: string;
  phone?: string;
  amount?: string;
  errors?: FieldErrors;
}

export function renderForm(link: LinkRow, meta: PageMeta, s: FormState): string {
  const amount = amountOf(link);
  const errors = s.errors ?? {};
  const firstInvalid = errors.amount ? 'amount' : errors.phone ? 'phone' : undefined;
  const described = (id: string, hint: boolean) =>
    `aria-describedby="${[hint ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' ')}"${errors[id as 'phone'] ? ' aria-invalid="true"' : ''}${firstInvalid === id ? ' autofocus' : ''}`;
  const amountBlock =
    typeof amount === 'number'
      ? `<p class="amount"><small>Amount</small>KES ${esc(kes(amount))}</p>`
      : `<div class="field"><label for="amount">Amount (KES)</label>
<span class="hint" id="amount-hint">Between KES ${esc(kes(amount.min))} and KES ${esc(kes(amount.max))}, whole shillings</span>
<input id="amount" name="amount" type="text" inputmode="numeric" autocomplete="off" data-min="${amount.min}" data-max="${amount.max}" value="${esc(s.amount ?? '')}" ${described('amount', true)}>
<p class="error" id="amount-error" role="alert">${esc(errors.amount ?? '')}</p></div>`;
  const body = `<div class="card">
${merchantHeader(link, meta)}
<h1>${esc(link.title)}</h1>
${link.description ? `<p class="desc">${esc(link.description)}</p>` : ''}
${errors.form ? `<p class="form-error" role="alert">${esc(errors.form)}</p>` : ''}
<form id="pay-form" method="post" action="/pay/${esc(link.id)}" novalidate>
${amountBlock}
<div class="field"><label for="phone">M-Pesa phone number</label>
<span class="hint" id="phone-hint">The prompt to enter your PIN goes to this phone, e.g. 0712 345 678</span>
<input id="phone" name="phone" type="tel" inputmode="tel" autocomplete="tel" value="${esc(s.phone ?? '')}" ${described('phone', true)}>
<p class="error" id="phone-error" role="alert">${esc(errors.phone ?? '')}</p></div>
<div class="hp" aria-hidden="true"><label for="website">Leave this field empty</label><input id="website" name="website" type="text" tabindex="-1" autocomplete="off"></div>
<input type="hidden" name="formKey" value="${esc(s.formKey)}">
<button id="pay-button" type="submit">Pay with M-Pesa</button>
</form>
</div>`;
  return layout(`${link.title} · Pay with M-Pesa`, body);
}

export function renderPayment(link: LinkRow, meta: PageMeta, p: PaymentView): string {
  const state = publicState(p);
  const statusUrl = `/pay/${link.id}/payments/${p.id}/status`;
  // a success confirmed by STK query before Daraja's callback has no receipt yet: keep watching until it comes
  const watch = state.status === 'pending' || (state.status === 'success' && !state.mpesaReceipt);
  const details = `<dl><dt>Amount</dt><dd>KES ${esc(kes(p.amount))}</dd><dt>Phone</dt><dd>${esc(localMask(p.phone))}</dd><dt>For</dt><dd>${esc(link.title)}</dd></dl>`;
  let inner: string;
  let title: string;
  switch (state.status) {
    case 'pending':
      title = 'Check your phone';
      inner = `<div class="icon" aria-hidden="true"></div>
<h1>Check your phone</h1>
<p>We sent an <span class="nowrap">M-Pesa</span> prompt to <strong class="nowrap">${esc(localMask(p.phone))}</strong>.</p>
<ol class="steps"><li>Unlock your phone and open the <span class="nowrap">M-Pesa</span> prompt.</li><li>Check the amount: KES ${esc(kes(p.amount))}.</li><li>Enter your <span class="nowrap">M-Pesa</span> PIN and confirm.</li></ol>
<p>This page updates by itself once <span class="nowrap">M-Pesa</span> answers. Please keep it open.</p>
<p><a href="/pay/${esc(link.id)}/payments/${esc(p.id)}">Refresh the status</a></p>`;
      break;
    case 'success':
      title = 'Payment received';
      inner = `<div class="icon" aria-hidden="true">✓</div>
<h1>Payment received</h1>
${
  state.mpesaReceipt
    ? `<p>Thank you. Your M-Pesa receipt is</p>
<p class="receipt" id="receipt">${esc(state.mpesaReceipt)}</p>`
    : '<p>Thank you. M-Pesa confirmed the payment; its receipt number follows in a moment.</p>'
}
${details}
<p>M-Pesa also sends you a confirmation SMS. You can close this page.</p>`;
      break;
    case 'failed':
      title = 'Payment not completed';
      inner = `<div class="icon" aria-hidden="true">!</div>
<h1>Payment not completed</h1>
<p id="failure">${esc(state.message ?? '')}</p>
${details}
<a class="button" href="/pay/${esc(link.id)}">Try again</a>`;
      break;
    default:
      title = 'Payment being checked';
      inner = `<div class="icon" aria-hidden="true">?</div>
<h1>We are checking this payment</h1>
<p id="failure">${esc(state.message ?? '')}</p>
${details}`;
  }
  const body = `<div class="card">
${merchantHeader(link, meta)}
<section class="state ${esc(state.status)}" id="payment-state" aria-live="polite" data-status="${esc(state.status)}"${watch ? ' data-watch="1"' : ''} data-status-url="${esc(statusUrl)}">
${inner}
</section>
</div>`;
  return layout(`${title} · ${link.title}`, body, { refresh: watch });
}

const UNAVAILABLE: Record<Exclude<LinkStatus, 'active'> | 'not_found', { title: string; text: string }> = {
  not_found: {
    title: 'Payment link not found',
    text: 'Check that the link was copied in full, or ask the merchant for a new one.',
  },
  disabled: {
    title: 'This payment link is no longer active',
    text: 'The merchant has turned this link off. No payment can be made through it; ask the merchant for a new link.',
  },
  expired: {
    title: 'This payment link has expired',
    text: 'The time to pay through this link is over. Ask the merchant for a new link.',
  },
  exhausted: {
    title: 'This payment link has been fully paid',
    text: 'It has reached the number of payments the merchant allowed. Ask the merchant if you still need to pay.',
  },
};

export function renderUnavailable(
  status: Exclude<LinkStatus, 'active'> | 'not_found',
  link?: { row: LinkRow; meta: PageMeta },
): string {
  const u = UNAVAILABLE[status];
  const body = `<div class="card state ${status === 'not_found' ? 'failed' : 'needs_review'}" id="link-unavailable" data-link-status="${esc(status)}">
${link ? merchantHeader(link.row, link.meta) : ''}
<div class="icon" aria-hidden="true">!</div>
<h1>${esc(u.title)}</h1>
${link ? `<p><strong>${esc(link.row.title)}</strong></p>` : ''}
<p>${esc(u.text)}</p>
</div>`;
  return layout(u.title, body);
}

export function renderMessage(title: string, text: string): string {
  return layout(
    title,
    `<div class="card state failed"><div class="icon" aria-hidden="true">!</div><h1>${esc(title)}</h1><p>${esc(text)}</p></div>`,
  );
}
