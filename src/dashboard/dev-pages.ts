/**
 * Building blocks of the developer pages (keys, channels, webhooks): a page of a whole list the API
 * returns at once, checkbox groups (posted as repeated fields), a secret shown once, a confirmation page,
 * and the form-failure rule (a refusal of the role or a missing resource is an error page, the rest
 * re-renders the form with each field's message).
 */
import { MalipoError } from '../domain/errors';
import { html, type SafeHtml } from '../http/html';
import { type FormErrors, formErrors, type NavArea } from './layout';
import type { PageContext, PageResult } from './page-types';

export const PAGE_SIZE = 20;

/**
 * One page of a newest-first list the API returns whole (keys, channels), in the shape `pager()` reads:
 * `cursor` is the id of the last item of the previous page. A cursor that names nothing in the list is a
 * 400, as the API's own cursors are.
 */
export function listPage<T extends { id: string }>(
  all: readonly T[],
  cursor: string | undefined,
  size = PAGE_SIZE,
): { data: T[]; nextCursor: string | null; isFirstPage: boolean } {
  let start = 0;
  if (cursor) {
    const i = all.findIndex((x) => x.id === cursor);
    if (i < 0) {
      throw new MalipoError('VALIDATION_ERROR', 'The request query is invalid', {
        details: [{ path: 'cursor', message: 'is not a cursor this page gave', code: 'custom' }],
      });
    }
    start = i + 1;
  }
  const data = all.slice(start, start + size);
  const more = start + size < all.length;
  return { data, nextCursor: more ? (data.at(-1)?.id ?? null) : null, isFirstPage: start === 0 };
}

/** Every value of a repeated form field (checkboxes); `ctx.form` keeps only the first. */
export function formValues(ctx: PageContext, name: string): string[] {
  const v = (ctx.req.body as Record<string, unknown> | undefined)?.[name];
  const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return list.filter((x): x is string => typeof x === 'string');
}

/**
 * The form-failure rule. A refusal of the role (MISSING_SCOPE) or a resource that is not the session's
 * (RESOURCE_NOT_FOUND) is rethrown, so it shows the error page with its status; any other API refusal
 * re-renders the form with its status and the message next to each field (`scopes.0` → `scopes`).
 */
export function formFailure(err: unknown): { errors: FormErrors; status: number } {
  if (err instanceof MalipoError && (err.code === 'MISSING_SCOPE' || err.code === 'RESOURCE_NOT_FOUND')) {
    throw err;
  }
  const errors = formErrors(err);
  for (const [path, message] of Object.entries(errors.fields)) {
    const head = path.split('.')[0]!;
    if (!(head in errors.fields)) errors.fields[head] = message;
  }
  return { errors, status: (err as MalipoError).status };
}

/** A labelled group of checkboxes, each with an id, and one error for the group. */
export function checkboxes(o: {
  name: string;
  legend: string;
  hint?: string;
  options: ReadonlyArray<{ value: string; label: string; hint?: string }>;
  checked: ReadonlySet<string>;
  error?: string | undefined;
}): SafeHtml {
  const described = [o.hint ? `${o.name}-hint` : '', o.error ? `${o.name}-error` : '']
    .filter(Boolean)
    .join(' ');
  return html`<fieldset class="checks" id="${o.name}-group"${described ? html` aria-describedby="${described}"` : ''}>
<legend>${o.legend}</legend>
${o.hint ? html`<span class="hint" id="${o.name}-hint">${o.hint}</span>` : ''}
${o.options.map((op, i) => {
  const id = `${o.name}-${i}`;
  return html`<div class="check"><input type="checkbox" id="${id}" name="${o.name}" value="${op.value}"${
    o.checked.has(op.value) ? html` checked` : ''
  }><label for="${id}">${op.label}${op.hint ? html` <span class="muted small">${op.hint}</span>` : ''}</label></div>`;
})}
${o.error ? html`<p class="error" id="${o.name}-error">${o.error}</p>` : ''}
</fieldset>`;
}

/** A checkbox on its own (`value="true"`). */
export function checkbox(o: { name: string; label: string; checked: boolean; hint?: string }): SafeHtml {
  return html`<div class="field check"><input type="checkbox" id="${o.name}" name="${o.name}" value="true"${
    o.checked ? html` checked` : ''
  }${o.hint ? html` aria-describedby="${o.name}-hint"` : ''}><label for="${o.name}">${o.label}${
    o.hint ? html` <span class="hint" id="${o.name}-hint">${o.hint}</span>` : ''
  }</label></div>`;
}

/** A secret the API shows once (an API key, a signing secret), with a copy button. */
export function shownOnce(o: { id: string; label: string; value: string }): SafeHtml {
  return html`<div class="field"><span class="label" id="${o.id}-label">${o.label}</span>
<div class="secret"><code class="mono" id="${o.id}" aria-labelledby="${o.id}-label">${o.value}</code><button type="button" class="copy" data-copy="${o.value}" hidden aria-describedby="${o.id}-label">Copy</button></div></div>`;
}

/** The warning above secrets shown once. */
export const onceWarning = html`<p class="flash warn" role="alert"><strong>Copy it now.</strong> This is the only time Malipo shows it; it is stored only in a form that cannot be read back.</p>`;

/** A page that asks before something that cannot be undone; the form posts to `action`. */
export function confirmPage(
  ctx: PageContext,
  o: { title: string; active: NavArea; text: SafeHtml; action: string; button: string; back: string },
): PageResult {
  return ctx.render({
    title: o.title,
    active: o.active,
    body: html`<div class="card" id="confirm">${o.text}
<form method="post" action="${o.action}" class="actions">${ctx.csrf}
<button type="submit" class="danger">${o.button}</button>
<a class="button secondary" href="${o.back}">Cancel</a>
</form></div>`,
  });
}

/** Nairobi time to the minute, for the columns of a list (the detail pages show the seconds). */
export function shortTime(d: Date | string): string {
  return new Date(d).toLocaleString('en-GB', {
    timeZone: 'Africa/Nairobi',
    year: 'numeric',
    month: 'short',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  });
}

/** `f(v)`, or a dash when there is no value. */
export const dash = (v: string | null | undefined, f: (s: string) => string): string => (v ? f(v) : '–');
