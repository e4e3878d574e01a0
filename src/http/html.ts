/**
 * Server-rendered HTML, shared by the pay pages and the dashboard: one escaping function, a typed
 * `html` tagged template that escapes every interpolation (`raw()` marks HTML that is already safe),
 * and the strict Content-Security-Policy both send (own script and style files only, no inline code).
 */

/** Escapes text for an HTML body or a quoted attribute value. */
export const esc = (s: unknown): string =>
  String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

/** HTML that is safe to emit as is: made only by `html`, `raw` and `join`. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** One interpolated value: text (escaped), SafeHtml (as is), a list of either, or nothing (null, undefined, false). */
export type HtmlValue =
  | SafeHtml
  | string
  | number
  | bigint
  | boolean
  | null
  | undefined
  | readonly HtmlValue[];

function render(v: HtmlValue): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return esc(v);
}

/**
 * `html\`<p>${name}</p>\`` escapes `name`; nested `html` fragments and arrays of them pass through.
 * `false`, `null` and `undefined` render nothing, so `${cond && html\`…\`}` works.
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new SafeHtml(out);
}

/** The escape hatch: `s` is trusted HTML (a constant, or markup built by code that escaped its parts). */
export function raw(s: string): SafeHtml {
  return new SafeHtml(s);
}

/** Joins fragments with a separator (escaped unless SafeHtml). */
export function join(parts: readonly HtmlValue[], sep: HtmlValue = ''): SafeHtml {
  return new SafeHtml(parts.map(render).join(render(sep)));
}

export interface CspOptions {
  /** img-src sources beyond 'self' (e.g. `data:` or a logo's https origin). */
  img?: readonly string[];
  /** Allow fetch() to the page's own origin. */
  connectSelf?: boolean;
  /** Served over https: add upgrade-insecure-requests. */
  https: boolean;
}

/** The strict policy: nothing from another origin, no inline script or style, no framing, forms post home. */
export function strictCsp(opts: CspOptions): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    ["img-src 'self'", ...(opts.img ?? [])].join(' '),
    ...(opts.connectSelf ? ["connect-src 'self'"] : []),
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    ...(opts.https ? ['upgrade-insecure-requests'] : []),
  ].join('; ');
}
