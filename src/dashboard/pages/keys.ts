/**
 * API keys: the list (of the session's environment), creating a key with a scope picker, rotating with a
 * chosen overlap, revoking after a confirmation. Everything goes through the /v1/keys routes, so the
 * `keys:manage` scope and the rule that a key grants only scopes its creator holds apply as in the API.
 * A new key and its webhook secret are shown once, on the page that answers the form (never stored in
 * a flash or a URL); every dashboard page is `Cache-Control: no-store`.
 */
import type { z } from 'zod';
import { html, type SafeHtml } from '../../http/html';
import {
  type ApiKeySchema,
  createKeyRoute,
  getKeyRoute,
  type IssuedApiKeySchema,
  listKeysRoute,
  revokeKeyRoute,
  rotateKeyRoute,
} from '../../http/routes/keys';
import { canGrant, SCOPES, type Scope } from '../../platform/scopes';
import { callApi } from '../api';
import {
  checkboxes,
  confirmPage,
  dash,
  formFailure,
  formValues,
  listPage,
  onceWarning,
  shortTime,
  shownOnce,
} from '../dev-pages';
import { emptyState, type FormErrors, field, formError, nairobiTime, pager, select } from '../layout';
import type { PageContext, PageModule } from '../page-types';

type ApiKey = z.output<typeof ApiKeySchema>;
type IssuedKey = z.output<typeof IssuedApiKeySchema>;

const SCOPE_TEXT: Record<Scope, string> = {
  'payments:create': 'start STK push payments',
  'payments:read': 'read payments',
  'payouts:create': 'send B2C payouts',
  'payouts:read': 'read payouts',
  'payments:resolve': 'settle payments that need review',
  'payouts:resolve': 'settle payouts that need review',
  'reversals:create': 'reverse (refund) payments',
  'reversals:read': 'read reversals',
  'channels:read': 'read channels',
  'channels:write': 'create, change and test channels',
  'webhooks:manage': 'webhook endpoints and events',
  'links:manage': 'payment links',
  'balance:read': 'balance, transaction status, QR codes',
  'keys:manage': 'create, rotate and revoke keys',
  '*': 'every scope, now and later',
};

/** The rotation overlaps offered (the API takes any 0 … 7 days). */
const OVERLAPS = [
  { value: '0', label: 'None: the old key stops working now' },
  { value: '3600', label: '1 hour' },
  { value: '86400', label: '24 hours' },
  { value: '604800', label: '7 days' },
];

const keyText = (k: Pick<ApiKey, 'prefix' | 'last4'>) => `${k.prefix}…${k.last4}`;
const stateBadge = (state: string) => html`<span class="badge ${state}">${state}</span>`;
const when = (v: string | null) => dash(v, nairobiTime);
const short = (v: string | null) => dash(v, shortTime);

function keyTable(keys: ApiKey[]): SafeHtml {
  return html`<div class="table-wrap"><table class="stack" id="keys"><thead><tr><th scope="col">Label</th><th scope="col">Key</th><th scope="col">Scopes</th><th scope="col">State</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Expires</th></tr></thead><tbody>
${keys.map(
  (k) =>
    html`<tr data-key-id="${k.id}"><td data-label="Label"><a href="/dashboard/keys/${k.id}">${k.label || 'Untitled key'}</a></td><td data-label="Key" class="mono nowrap">${keyText(k)}</td><td data-label="Scopes">${k.scopes.join(', ')}</td><td data-label="State">${stateBadge(k.state)}</td><td data-label="Created" class="nowrap">${short(k.createdAt)}</td><td data-label="Last used" class="nowrap">${k.lastUsedAt ? short(k.lastUsedAt) : 'Never'}</td><td data-label="Expires" class="nowrap">${k.expiresAt ? short(k.expiresAt) : 'Never'}</td></tr>`,
)}
</tbody></table></div>`;
}

function createForm(
  ctx: PageContext,
  v: { label?: string; scopes?: string[]; expires?: string; errors?: FormErrors },
) {
  const f = v.errors?.fields ?? {};
  // offer only what this session may grant; the API checks again
  const offered = SCOPES.filter((s) => canGrant(ctx.auth.scopes, [s]));
  return html`${formError(v.errors)}
<form method="post" action="/dashboard/keys" class="card" id="key-create-form">
${ctx.csrf}
${field({ name: 'label', label: 'Label', value: v.label, hint: 'What uses this key, e.g. "Shop backend". Optional.', error: f.label })}
${checkboxes({
  name: 'scopes',
  legend: 'Scopes',
  hint: 'Give the key only what its program needs.',
  options: offered.map((s) => ({ value: s, label: s === '*' ? 'All scopes (*)' : s, hint: SCOPE_TEXT[s] })),
  checked: new Set(v.scopes ?? []),
  error: f.scopes,
})}
${field({ name: 'expiresAt', label: 'Expires on', type: 'date', value: v.expires, hint: 'Optional: the key stops working at the end of this day (Nairobi time).', error: f.expiresAt })}
<button type="submit" class="primary">Create key</button>
</form>`;
}

/** The key and its webhook secret, once, after creation or rotation. */
function issuedBody(k: IssuedKey, extra: SafeHtml): SafeHtml {
  return html`${onceWarning}
<section class="card" id="issued-key" aria-labelledby="issued-h"><h2 id="issued-h">${k.label || 'Untitled key'} <span class="muted small">(${k.environment})</span></h2>
${shownOnce({ id: 'new-key', label: 'API key', value: k.key })}
${shownOnce({ id: 'new-webhook-secret', label: 'Webhook signing secret', value: k.webhookSecret })}
<p class="muted small">Scopes: ${k.scopes.join(', ')}. The webhook secret signs the webhooks sent to the callback URLs of payments this key starts.</p>
${extra}
<p><a href="/dashboard/keys">Back to the keys</a></p></section>`;
}

/** A `YYYY-MM-DD` date as the end of that day in Nairobi (UTC+3), in the API's ISO form. */
function endOfNairobiDay(date: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return undefined;
  const d = new Date(`${date}T23:59:59.999+03:00`);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export const keyPages: PageModule = (pages) => {
  pages.get('/keys', async (ctx) => {
    const all = await callApi<{ data: ApiKey[] }>(ctx, listKeysRoute);
    const p = listPage(all.body.data, ctx.query.cursor);
    const env = ctx.session.environment;
    const body = html`<p class="actions"><a class="button" href="/dashboard/keys/new" id="new-key-link">Create a key</a></p>
${
  p.data.length
    ? html`${keyTable(p.data)}${pager({ base: '/dashboard/keys', query: {}, nextCursor: p.nextCursor, isFirstPage: p.isFirstPage })}`
    : emptyState(
        `No ${env} keys yet`,
        html`<p>Your programs call the Malipo API with a key. Create one, and keep it on your server only.</p>`,
      )
}`;
    return ctx.render({ title: `API keys (${env})`, active: 'keys', body });
  });

  pages.get(
    '/keys/new',
    (ctx) => ctx.render({ title: 'Create an API key', active: 'keys', body: createForm(ctx, {}) }),
    { scope: 'keys:manage' },
  );

  pages.post('/keys', async (ctx) => {
    const scopes = formValues(ctx, 'scopes');
    const label = (ctx.form.label ?? '').trim();
    const expires = (ctx.form.expiresAt ?? '').trim();
    try {
      const expiresAt = expires ? endOfNairobiDay(expires) : undefined;
      if (expires && !expiresAt) {
        return ctx.render(
          {
            title: 'Create an API key',
            active: 'keys',
            body: createForm(ctx, {
              label,
              scopes,
              expires,
              errors: { message: 'The key is invalid', fields: { expiresAt: 'Enter a date' } },
            }),
          },
          400,
        );
      }
      const r = await callApi<IssuedKey>(ctx, createKeyRoute, {
        body: { ...(label ? { label } : {}), scopes, ...(expiresAt ? { expiresAt } : {}) },
      });
      return ctx.render({ title: 'Key created', active: 'keys', body: issuedBody(r.body, html``) }, 201);
    } catch (err) {
      const { errors, status } = formFailure(err);
      if (!scopes.length) errors.fields.scopes = 'Choose at least one scope';
      return ctx.render(
        {
          title: 'Create an API key',
          active: 'keys',
          body: createForm(ctx, { label, scopes, expires, errors }),
        },
        status,
      );
    }
  });

  const keyPage = async (ctx: PageContext, failed?: { errors: FormErrors; status: number }) => {
    const errors = failed?.errors;
    const k = (await callApi<ApiKey>(ctx, getKeyRoute, { params: { id: ctx.params.id! } })).body;
    const active = k.state === 'active';
    const body = html`${formError(errors)}<dl class="props card" id="key-props">
<dt>Key</dt><dd class="mono">${keyText(k)}</dd>
<dt>State</dt><dd>${stateBadge(k.state)}</dd>
<dt>Environment</dt><dd>${k.environment}</dd>
<dt>Scopes</dt><dd>${k.scopes.join(', ')}</dd>
<dt>Created</dt><dd>${when(k.createdAt)}</dd>
<dt>Last used</dt><dd>${k.lastUsedAt ? when(k.lastUsedAt) : 'Never'}</dd>
<dt>Expires</dt><dd>${k.expiresAt ? when(k.expiresAt) : 'Never'}</dd>
${k.revokedAt ? html`<dt>Revoked</dt><dd>${when(k.revokedAt)}</dd>` : ''}
${k.replacedBy ? html`<dt>Replaced by</dt><dd><a class="mono" href="/dashboard/keys/${k.replacedBy}">${k.replacedBy}</a></dd>` : ''}
</dl>
${
  active
    ? html`<section class="card" aria-labelledby="rotate-h"><h2 id="rotate-h">Rotate</h2>
<p class="muted small">A new key with the same scopes and label replaces this one. Deploy it, then let the old one go.</p>
<form method="post" action="/dashboard/keys/${k.id}/rotate" id="key-rotate-form" data-confirm="Issue a new key to replace this one?">
${ctx.csrf}
${select({ name: 'overlapSeconds', label: 'Keep the old key working for', options: OVERLAPS, value: '0', error: errors?.fields.overlapSeconds })}
<button type="submit" class="secondary">Rotate key</button>
</form></section>
<section class="card" aria-labelledby="revoke-h"><h2 id="revoke-h">Revoke</h2>
<p class="muted small">The next request with this key is refused. This cannot be undone.</p>
<p><a class="button secondary" href="/dashboard/keys/${k.id}/revoke" id="key-revoke-link">Revoke key…</a></p></section>`
    : ''
}
<p><a href="/dashboard/keys">Back to the keys</a></p>`;
    return ctx.render({ title: k.label || 'Untitled key', active: 'keys', body }, failed?.status ?? 200);
  };

  pages.get('/keys/:id', (ctx) => keyPage(ctx));

  pages.post('/keys/:id/rotate', async (ctx) => {
    const raw = ctx.form.overlapSeconds ?? '';
    try {
      const r = await callApi<{ key: IssuedKey; previous: ApiKey }>(ctx, rotateKeyRoute, {
        params: { id: ctx.params.id! },
        body: raw === '' ? {} : { overlapSeconds: Number(raw) },
      });
      const prev = r.body.previous;
      const note =
        prev.state === 'active' && prev.expiresAt
          ? html`<p id="previous-key">The old key <span class="mono">${keyText(prev)}</span> keeps working until ${when(prev.expiresAt)}.</p>`
          : html`<p id="previous-key">The old key <span class="mono">${keyText(prev)}</span> no longer works.</p>`;
      return ctx.render({ title: 'Key rotated', active: 'keys', body: issuedBody(r.body.key, note) }, 201);
    } catch (err) {
      return keyPage(ctx, formFailure(err));
    }
  });

  pages.get('/keys/:id/revoke', async (ctx) => {
    const k = (await callApi<ApiKey>(ctx, getKeyRoute, { params: { id: ctx.params.id! } })).body;
    return confirmPage(ctx, {
      title: 'Revoke this key?',
      active: 'keys',
      text: html`<p>Revoke <strong>${k.label || 'Untitled key'}</strong> (<span class="mono">${keyText(k)}</span>)? Every program that uses it is refused from its next request. This cannot be undone.</p>`,
      action: `/dashboard/keys/${k.id}/revoke`,
      button: 'Revoke key',
      back: `/dashboard/keys/${k.id}`,
    });
  });

  pages.post('/keys/:id/revoke', async (ctx) => {
    const k = (await callApi<ApiKey>(ctx, revokeKeyRoute, { params: { id: ctx.params.id! } })).body;
    ctx.flash('ok', `Key ${keyText(k)} is revoked.`);
    return ctx.redirect(`/dashboard/keys/${k.id}`);
  });
};
