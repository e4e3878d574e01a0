/**
 * Channels: the list of the session's environment, creating and editing till and paybill channels,
 * enabling, disabling, deleting, and testing the stored consumer key and secret against Daraja
 * (POST /v1/channels/:id/test). Credentials are write-only: the forms never show them, and a blank
 * credential field on edit keeps the stored value. An edit sends only the fields that changed.
 */
import type { z } from 'zod';
import { html, type SafeHtml } from '../../http/html';
import { type ChannelTestSchema, testChannelRoute } from '../../http/routes/channel-test';
import {
  type ChannelSchema,
  createChannelRoute,
  deleteChannelRoute,
  getChannelRoute,
  listChannelsRoute,
  updateChannelRoute,
} from '../../http/routes/channels';
import { hasScope, type KeyEnvironment } from '../../platform/scopes';
import { callApi } from '../api';
import { checkbox, confirmPage, formFailure, listPage } from '../dev-pages';
import { emptyState, type FormErrors, field, formError, nairobiTime, pager, select } from '../layout';
import type { PageContext, PageModule } from '../page-types';

type Channel = z.output<typeof ChannelSchema>;
type ChannelTest = z.output<typeof ChannelTestSchema>;

/** The channel environments a session's environment may use (the API's rule, keyEnvironmentFor). */
const ENVIRONMENTS: Record<KeyEnvironment, Array<{ value: string; label: string }>> = {
  test: [
    { value: 'simulator', label: 'Simulator (Malipo’s own Daraja stand-in)' },
    { value: 'safaricom-sandbox', label: 'Safaricom sandbox' },
  ],
  live: [{ value: 'production', label: 'Production (real money)' }],
};
const TYPES = [
  { value: 'paybill', label: 'Paybill' },
  { value: 'till', label: 'Till (buy goods)' },
];
const SECRETS = ['passkey', 'consumerKey', 'consumerSecret', 'initiatorPassword'] as const;
const REQUIRED = ['shortcode', 'passkey', 'consumerKey', 'consumerSecret'] as const;

const canWrite = (ctx: PageContext) => hasScope(ctx.auth.scopes, 'channels:write');
const statusBadge = (c: Channel) =>
  html`<span class="badge ${c.status}">${c.status}</span>${c.isDefault ? html` <span class="badge default">default</span>` : ''}`;

function channelTable(list: Channel[]): SafeHtml {
  return html`<div class="table-wrap"><table class="stack" id="channels"><thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Shortcode</th><th scope="col">Environment</th><th scope="col">Status</th><th scope="col">Updated</th></tr></thead><tbody>
${list.map(
  (c) =>
    html`<tr data-channel-id="${c.id}"><td data-label="Name"><a href="/dashboard/channels/${c.id}">${c.name}</a></td><td data-label="Type">${c.type}</td><td data-label="Shortcode" class="mono">${c.shortcode}${c.tillNumber ? html` · till ${c.tillNumber}` : ''}</td><td data-label="Environment">${c.environment}</td><td data-label="Status">${statusBadge(c)}</td><td data-label="Updated">${nairobiTime(c.updatedAt)}</td></tr>`,
)}
</tbody></table></div>`;
}

/** The values a form shows: what was posted, else the channel's. */
type Values = Record<string, string | undefined>;

function channelForm(
  ctx: PageContext,
  o: { channel?: Channel; values: Values; errors?: FormErrors | undefined },
): SafeHtml {
  const f = o.errors?.fields ?? {};
  const v = o.values;
  const editing = Boolean(o.channel);
  const keep = editing ? 'Leave blank to keep the stored value.' : undefined;
  const simHint = ctx.deps.config.isProduction
    ? 'Required for a simulator channel; optional otherwise (Safaricom’s address by default).'
    : `Required for a simulator channel; the one built into this Malipo is ${ctx.deps.config.publicUrl}/sandbox/daraja`;
  const secret = (name: (typeof SECRETS)[number], label: string, required: boolean) =>
    field({
      name,
      label,
      type: 'password',
      autocomplete: 'off',
      required: required && !editing,
      hint: keep ?? (required ? undefined : 'Optional.'),
      error: f[name],
    });
  return html`${formError(o.errors)}
<form method="post" action="${editing ? `/dashboard/channels/${o.channel!.id}` : '/dashboard/channels'}" class="card" id="channel-form">
${ctx.csrf}
${field({ name: 'name', label: 'Name', value: v.name, hint: 'Optional, e.g. "Main paybill".', error: f.name })}
${select({ name: 'type', label: 'Type', options: TYPES, value: v.type ?? 'paybill', error: f.type })}
${field({ name: 'shortcode', label: 'Shortcode', value: v.shortcode, hint: 'The paybill number, or for a till its store (head office) number.', required: true, error: f.shortcode })}
${field({ name: 'tillNumber', label: 'Till number', value: v.tillNumber, hint: 'Tills only: the number customers pay.', error: f.tillNumber })}
${
  editing
    ? html`<p class="field"><span class="label">Daraja environment</span>${o.channel!.environment} <span class="muted small">(cannot change)</span></p>`
    : select({
        name: 'environment',
        label: 'Daraja environment',
        options: ENVIRONMENTS[ctx.session.environment],
        value: v.environment,
        error: f.environment,
      })
}
${field({ name: 'baseUrl', label: 'Daraja base URL', value: v.baseUrl, hint: simHint, autocomplete: 'off', error: f.baseUrl })}
${o.channel?.isDefault ? '' : checkbox({ name: 'isDefault', label: 'Make this the default channel', checked: v.isDefault === 'true', hint: `Payments without a channelId use the default ${ctx.session.environment} channel.` })}
<fieldset class="checks"><legend>Daraja credentials</legend>
<span class="hint">Stored encrypted; never shown again.</span>
${secret('passkey', 'Passkey', true)}
${secret('consumerKey', 'Consumer key', true)}
${secret('consumerSecret', 'Consumer secret', true)}
${field({ name: 'initiatorName', label: 'Initiator name', value: v.initiatorName, hint: 'For payouts (B2C) only. Optional.', autocomplete: 'off', error: f.initiatorName })}
${secret('initiatorPassword', 'Initiator password', false)}
</fieldset>
<button type="submit" class="primary">${editing ? 'Save changes' : 'Create channel'}</button>
</form>`;
}

const text = (ctx: PageContext, name: string) => (ctx.form[name] ?? '').trim();

/** Friendlier than zod's "too small" for a required field left blank. */
function blankMessages(ctx: PageContext, errors: FormErrors, names: readonly string[]): void {
  for (const n of names) if (errors.fields[n] && !text(ctx, n)) errors.fields[n] = 'Fill this in';
}

function createBody(ctx: PageContext): Record<string, unknown> {
  const opt = (n: string) => (text(ctx, n) ? { [n]: text(ctx, n) } : {});
  return {
    ...opt('name'),
    type: text(ctx, 'type'),
    shortcode: text(ctx, 'shortcode'),
    ...opt('tillNumber'),
    environment: text(ctx, 'environment'),
    ...opt('baseUrl'),
    ...(ctx.form.isDefault === 'true' ? { isDefault: true } : {}),
    // secrets as typed: spaces may be part of them
    passkey: ctx.form.passkey ?? '',
    consumerKey: ctx.form.consumerKey ?? '',
    consumerSecret: ctx.form.consumerSecret ?? '',
    ...opt('initiatorName'),
    ...(ctx.form.initiatorPassword ? { initiatorPassword: ctx.form.initiatorPassword } : {}),
  };
}

/** The fields that differ from the stored channel; blank credentials keep theirs. */
function patchBody(ctx: PageContext, c: Channel): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  const name = text(ctx, 'name');
  if (name && name !== c.name) patch.name = name;
  const type = text(ctx, 'type');
  if (type && type !== c.type) patch.type = type;
  const shortcode = text(ctx, 'shortcode');
  if (shortcode !== c.shortcode) patch.shortcode = shortcode;
  const till = text(ctx, 'tillNumber') || null;
  if (till !== c.tillNumber) patch.tillNumber = till;
  const baseUrl = text(ctx, 'baseUrl') || null;
  if (baseUrl !== c.baseUrl) patch.baseUrl = baseUrl;
  if (ctx.form.isDefault === 'true' && !c.isDefault) patch.isDefault = true;
  const initiatorName = text(ctx, 'initiatorName') || null;
  if (initiatorName !== c.initiatorName) patch.initiatorName = initiatorName;
  for (const s of SECRETS) if (ctx.form[s]) patch[s] = ctx.form[s];
  return patch;
}

const valuesOf = (c: Channel): Values => ({
  name: c.name,
  type: c.type,
  shortcode: c.shortcode,
  tillNumber: c.tillNumber ?? '',
  baseUrl: c.baseUrl,
  initiatorName: c.initiatorName ?? '',
});

async function channelPage(ctx: PageContext, c: Channel, failed?: { errors: FormErrors; status: number }) {
  const write = canWrite(ctx);
  const body = html`<dl class="props card" id="channel-props">
<dt>Status</dt><dd>${statusBadge(c)}</dd>
<dt>Daraja environment</dt><dd>${c.environment}</dd>
<dt>Daraja base URL</dt><dd class="mono">${c.baseUrl}</dd>
<dt>Channel id</dt><dd class="mono">${c.id} <button type="button" class="copy" data-copy="${c.id}" hidden>Copy</button></dd>
<dt>Created</dt><dd>${nairobiTime(c.createdAt)}</dd>
<dt>Updated</dt><dd>${nairobiTime(c.updatedAt)}</dd>
</dl>
${
  write
    ? html`<section class="card" aria-labelledby="test-h"><h2 id="test-h">Test the credentials</h2>
<p class="muted small">Asks Daraja for an access token with the stored consumer key and secret.</p>
<form method="post" action="/dashboard/channels/${c.id}/test" id="channel-test-form">${ctx.csrf}<button type="submit" class="secondary">Test with Daraja</button></form></section>
<h2>Edit</h2>
${channelForm(ctx, { channel: c, values: failed ? { ...valuesOf(c), ...ctx.form } : valuesOf(c), errors: failed?.errors })}
<section class="card" aria-labelledby="state-h"><h2 id="state-h">${c.status === 'active' ? 'Disable or delete' : 'Enable or delete'}</h2>
<div class="actions">
<form method="post" action="/dashboard/channels/${c.id}/status" id="channel-status-form">${ctx.csrf}<input type="hidden" name="status" value="${c.status === 'active' ? 'disabled' : 'active'}"><button type="submit" class="secondary">${c.status === 'active' ? 'Disable channel' : 'Enable channel'}</button></form>
<a class="button secondary" href="/dashboard/channels/${c.id}/delete" id="channel-delete-link">Delete channel…</a>
</div></section>`
    : html`<p class="muted">Your role can read channels but not change them.</p>`
}
<p><a href="/dashboard/channels">Back to the channels</a></p>`;
  return ctx.render({ title: c.name, active: 'channels', body }, failed?.status ?? 200);
}

const loadChannel = async (ctx: PageContext) =>
  (await callApi<Channel>(ctx, getChannelRoute, { params: { id: ctx.params.id! } })).body;

export const channelPages: PageModule = (pages) => {
  pages.get('/channels', async (ctx) => {
    const all = await callApi<{ data: Channel[] }>(ctx, listChannelsRoute);
    // the API lists oldest first; the page shows the newest first, like the other lists
    const p = listPage([...all.body.data].reverse(), ctx.query.cursor);
    const env = ctx.session.environment;
    const body = html`${canWrite(ctx) ? html`<p class="actions"><a class="button" href="/dashboard/channels/new" id="new-channel-link">Add a channel</a></p>` : ''}
${
  p.data.length
    ? html`${channelTable(p.data)}${pager({ base: '/dashboard/channels', query: {}, nextCursor: p.nextCursor, isFirstPage: p.isFirstPage })}`
    : emptyState(
        `No ${env} channels yet`,
        html`<p>A channel is your paybill or till with its Daraja credentials. ${
          env === 'test'
            ? 'Add a simulator channel to try payments without Safaricom.'
            : 'Add your production shortcode to take real payments.'
        }</p>`,
      )
}`;
    return ctx.render({ title: `Channels (${env})`, active: 'channels', body });
  });

  pages.get(
    '/channels/new',
    (ctx) =>
      ctx.render({
        title: 'Add a channel',
        active: 'channels',
        body: channelForm(ctx, { values: { environment: ENVIRONMENTS[ctx.session.environment][0]!.value } }),
      }),
    { scope: 'channels:write' },
  );

  pages.post('/channels', async (ctx) => {
    try {
      const r = await callApi<Channel>(ctx, createChannelRoute, { body: createBody(ctx) });
      ctx.flash('ok', `Channel ${r.body.name} created. Test its credentials with Daraja below.`);
      return ctx.redirect(`/dashboard/channels/${r.body.id}`);
    } catch (err) {
      const { errors, status } = formFailure(err);
      blankMessages(ctx, errors, REQUIRED);
      return ctx.render(
        { title: 'Add a channel', active: 'channels', body: channelForm(ctx, { values: ctx.form, errors }) },
        status,
      );
    }
  });

  pages.get('/channels/:id', async (ctx) => channelPage(ctx, await loadChannel(ctx)));

  pages.post('/channels/:id', async (ctx) => {
    const c = await loadChannel(ctx);
    const patch = patchBody(ctx, c);
    if (Object.keys(patch).length === 0) {
      ctx.flash('ok', 'Nothing changed.');
      return ctx.redirect(`/dashboard/channels/${c.id}`);
    }
    try {
      await callApi<Channel>(ctx, updateChannelRoute, { params: { id: c.id }, body: patch });
    } catch (err) {
      const failed = formFailure(err);
      blankMessages(ctx, failed.errors, ['shortcode']);
      return channelPage(ctx, c, failed);
    }
    ctx.flash('ok', 'Channel saved.');
    return ctx.redirect(`/dashboard/channels/${c.id}`);
  });

  pages.post('/channels/:id/status', async (ctx) => {
    const status = ctx.form.status === 'active' ? 'active' : 'disabled';
    const r = await callApi<Channel>(ctx, updateChannelRoute, {
      params: { id: ctx.params.id! },
      body: { status },
    });
    ctx.flash(
      'ok',
      status === 'active' ? 'Channel enabled.' : 'Channel disabled: payments can no longer use it.',
    );
    return ctx.redirect(`/dashboard/channels/${r.body.id}`);
  });

  pages.post('/channels/:id/test', async (ctx) => {
    const r = await callApi<ChannelTest>(ctx, testChannelRoute, { params: { id: ctx.params.id! } });
    ctx.flash(r.body.ok ? 'ok' : 'error', `${r.body.ok ? 'Test passed' : 'Test failed'}: ${r.body.message}.`);
    return ctx.redirect(`/dashboard/channels/${r.body.channelId}`);
  });

  pages.get('/channels/:id/delete', async (ctx) => {
    const c = await loadChannel(ctx);
    return confirmPage(ctx, {
      title: 'Delete this channel?',
      active: 'channels',
      text: html`<p>Delete <strong>${c.name}</strong> (${c.type} <span class="mono">${c.shortcode}</span>, ${c.environment})? Its stored credentials are erased. If payments already used it, it is disabled instead, so their history stays whole.</p>`,
      action: `/dashboard/channels/${c.id}/delete`,
      button: 'Delete channel',
      back: `/dashboard/channels/${c.id}`,
    });
  });

  pages.post('/channels/:id/delete', async (ctx) => {
    const r = await callApi<{ id: string; deleted: boolean }>(ctx, deleteChannelRoute, {
      params: { id: ctx.params.id! },
    });
    if (r.body.deleted) {
      ctx.flash('ok', 'Channel deleted.');
      return ctx.redirect('/dashboard/channels');
    }
    ctx.flash('ok', 'Payments use this channel, so it was disabled instead of deleted.');
    return ctx.redirect(`/dashboard/channels/${r.body.id}`);
  });
};
