/**
 * The dashboard's page frame and small building blocks: `page()` (header with the business, the
 * test/live toggle and sign-out; the nav; flash messages), `authPage()` for the signed-out pages,
 * form fields with their errors, empty states, and `pager()` for the API's cursor lists.
 */
import { MalipoError } from '../domain/errors';
import { html, type HtmlValue, type SafeHtml } from '../http/html';
import type { KeyEnvironment } from '../platform/scopes';

/** The nav's areas, in order; `active` names one. */
export const NAV = [
  { id: 'overview', label: 'Overview', href: '/dashboard/overview' },
  { id: 'payments', label: 'Payments', href: '/dashboard/payments' },
  { id: 'payouts', label: 'Payouts', href: '/dashboard/payouts' },
  { id: 'links', label: 'Links', href: '/dashboard/links' },
  { id: 'keys', label: 'Keys', href: '/dashboard/keys' },
  { id: 'channels', label: 'Channels', href: '/dashboard/channels' },
  { id: 'webhooks', label: 'Webhooks', href: '/dashboard/webhooks' },
  { id: 'team', label: 'Team', href: '/dashboard/team' },
  { id: 'settings', label: 'Settings', href: '/dashboard/settings' },
] as const;
export type NavArea = (typeof NAV)[number]['id'];

export interface Flash {
  kind: 'ok' | 'error';
  text: string;
}

/** What the frame needs to know about the signed-in person (a PageContext has all of it). */
export interface FrameContext {
  session: { email: string; merchantName: string; environment: KeyEnvironment; role: string };
  /** The hidden `_csrf` input for forms of this session. */
  csrf: SafeHtml;
  /** A flash message set by the previous request, shown once. */
  flashMessage: Flash | undefined;
  /** The current path with its query, for the toggle to come back to. */
  path: string;
}

export interface PageOptions {
  title: string;
  active: NavArea;
  body: SafeHtml;
}

function head(title: string): SafeHtml {
  return html`<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex">
<title>${title} · Malipo</title>
<link rel="icon" href="/dashboard/assets/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/dashboard/assets/dashboard.css">
<script src="/dashboard/assets/dashboard.js" defer></script>
</head>`;
}

export function flashBox(flash: Flash | undefined): SafeHtml {
  if (!flash) return html``;
  return html`<p class="flash ${flash.kind}" role="${flash.kind === 'error' ? 'alert' : 'status'}">${flash.text}</p>`;
}

/** A signed-in page: header, nav, flash, the title as h1, and the body. */
export function page(ctx: FrameContext, opts: PageOptions): SafeHtml {
  const s = ctx.session;
  const other: KeyEnvironment = s.environment === 'test' ? 'live' : 'test';
  const envToggle = html`<form method="post" action="/dashboard/environment" class="env" aria-label="Environment">
${ctx.csrf}<input type="hidden" name="environment" value="${other}"><input type="hidden" name="back" value="${ctx.path}">
${(['test', 'live'] as const).map((e) =>
  e === s.environment
    ? html`<span class="on ${e}" aria-current="true">${e === 'test' ? 'Test' : 'Live'}</span>`
    : html`<button type="submit" title="Switch to ${e} data">${e === 'test' ? 'Test' : 'Live'}</button>`,
)}
</form>`;
  const nav = NAV.map(
    (n) =>
      html`<li><a href="${n.href}"${n.id === opts.active ? html` aria-current="page"` : ''}>${n.label}</a></li>`,
  );
  return html`<!doctype html>
<html lang="en">
${head(opts.title)}
<body data-environment="${s.environment}">
<a class="skip" href="#content">Skip to content</a>
<header class="top">
<a class="brand" href="/dashboard/overview"><img src="/dashboard/assets/icon.svg" alt="" width="28" height="28"><span id="business">${s.merchantName}</span></a>
${envToggle}
<span class="who" title="${s.role}">${s.email}</span>
<form method="post" action="/dashboard/logout">${ctx.csrf}<button type="submit" class="linkish">Sign out</button></form>
</header>
${s.environment === 'live' ? html`<p class="live-banner">Live data: real money.</p>` : ''}
<nav class="main" aria-label="Dashboard"><ul>${nav}</ul></nav>
<main id="content">
${flashBox(ctx.flashMessage)}
<h1>${opts.title}</h1>
${opts.body}
</main>
</body>
</html>
`;
}

/** A signed-out page (sign in, sign up, invite, errors): a narrow card, no nav. */
export function authPage(opts: { title: string; body: SafeHtml; flash?: Flash | undefined }): SafeHtml {
  return html`<!doctype html>
<html lang="en">
${head(opts.title)}
<body>
<main id="content" class="narrow">
<p class="center"><img src="/dashboard/assets/icon.svg" alt="Malipo" width="48" height="48"></p>
${flashBox(opts.flash)}
<h1>${opts.title}</h1>
${opts.body}
</main>
</body>
</html>
`;
}

/** A form's errors: a summary and one message per field (`details[].path`). */
export interface FormErrors {
  message?: string | undefined;
  fields: Record<string, string>;
}

/** Turns a MalipoError (validation, conflict, scope…) into form errors; anything else is rethrown. */
export function formErrors(err: unknown): FormErrors {
  if (!(err instanceof MalipoError) || err.status >= 500) throw err;
  const fields: Record<string, string> = {};
  for (const d of (err.details ?? []) as Array<{ path?: string; message?: string }>) {
    if (d?.path && d.message && !(d.path in fields)) fields[d.path] = d.message;
  }
  return { message: err.message, fields };
}

export interface FieldOptions {
  name: string;
  label: string;
  type?: 'text' | 'email' | 'password' | 'tel' | 'date' | 'search' | 'number';
  value?: string | undefined;
  hint?: string | undefined;
  error?: string | undefined;
  autocomplete?: string | undefined;
  required?: boolean;
  /** The element id; the name by default. */
  id?: string;
}

/** A labelled input with its hint and error, tied together for screen readers. */
export function field(o: FieldOptions): SafeHtml {
  const id = o.id ?? o.name;
  const described = [o.hint ? `${id}-hint` : '', o.error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return html`<div class="field"><label for="${id}">${o.label}</label>
${o.hint ? html`<span class="hint" id="${id}-hint">${o.hint}</span>` : ''}
<input id="${id}" name="${o.name}" type="${o.type ?? 'text'}" value="${o.type === 'password' ? '' : (o.value ?? '')}"${
    o.autocomplete ? html` autocomplete="${o.autocomplete}"` : ''
  }${o.required ? html` required` : ''}${described ? html` aria-describedby="${described}"` : ''}${
    o.error ? html` aria-invalid="true"` : ''
  }>
${o.error ? html`<p class="error" id="${id}-error">${o.error}</p>` : ''}</div>`;
}

export interface SelectOptions {
  name: string;
  label: string;
  options: ReadonlyArray<{ value: string; label: string }>;
  value?: string | undefined;
  error?: string | undefined;
}

export function select(o: SelectOptions): SafeHtml {
  return html`<div class="field"><label for="${o.name}">${o.label}</label>
<select id="${o.name}" name="${o.name}"${o.error ? html` aria-invalid="true" aria-describedby="${o.name}-error"` : ''}>
${o.options.map((op) => html`<option value="${op.value}"${op.value === (o.value ?? '') ? html` selected` : ''}>${op.label}</option>`)}
</select>
${o.error ? html`<p class="error" id="${o.name}-error">${o.error}</p>` : ''}</div>`;
}

/** The summary above a form that failed (role=alert so it is announced). */
export function formError(errors: FormErrors | undefined): SafeHtml {
  return errors?.message ? html`<p class="flash error" role="alert">${errors.message}</p>` : html``;
}

/** An empty list: what it is and what to do next. */
export function emptyState(title: string, text: HtmlValue): SafeHtml {
  return html`<div class="empty card"><strong>${title}</strong>${text}</div>`;
}

/**
 * Links for the API's newest-first cursor lists: "Newer" goes back to the first page (cursors only go
 * forward), "Older" carries `nextCursor`. `base` is the page path; `query` the filters to keep.
 */
export function pager(opts: {
  base: string;
  query: Record<string, string | undefined>;
  nextCursor: string | null;
  isFirstPage: boolean;
}): SafeHtml {
  const qs = (extra: Record<string, string>) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...opts.query, ...extra })) if (v) p.set(k, v);
    const s = p.toString();
    return s ? `${opts.base}?${s}` : opts.base;
  };
  if (opts.isFirstPage && !opts.nextCursor) return html``;
  return html`<nav class="pager" aria-label="Pages">
${opts.isFirstPage ? html`<span></span>` : html`<a href="${qs({ cursor: '' })}">← Newest</a>`}
${opts.nextCursor ? html`<a href="${qs({ cursor: opts.nextCursor })}" rel="next">Older →</a>` : html`<span></span>`}
</nav>`;
}

export const kes = (n: number): string => `KES ${Math.round(n).toLocaleString('en-KE')}`;

/** Nairobi wall-clock time, as merchants read it (EAT, UTC+3, no DST). */
export function nairobiTime(d: Date | string): string {
  const t = new Date(d);
  return t.toLocaleString('en-GB', {
    timeZone: 'Africa/Nairobi',
    year: 'numeric',
    month: 'short',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/** Short Nairobi time for tables: `02 Dec 16:40`. */
export function shortTime(d: Date | string): string {
  return new Date(d)
    .toLocaleString('en-GB', {
      timeZone: 'Africa/Nairobi',
      month: 'short',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    })
    .replace(',', '');
}
