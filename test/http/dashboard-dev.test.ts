/**
 * The dashboard's developer pages over HTTP (the real app and the Daraja simulator, PGlite and
 * PostgreSQL): API keys (create with scopes, shown once, rotate, revoke), channels (create, edit with
 * write-only credentials, test against Daraja, disable, delete) and webhooks (endpoints, secrets shown
 * once, the event log, deliveries, redelivery); form errors next to their fields; tenant isolation on
 * every page and POST; a viewer refused by the API's scope rule; CSRF on every POST.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { DatabaseHandle } from '../../src/db';
import { newId } from '../../src/domain/ids';
import { DEFAULT_APP, type SandboxServer } from '../../src/sandbox';
import type { DeliveryRef } from '../../src/webhooks/repository';
import { testDatabases } from '../helpers/db';
import { DashboardClient } from '../helpers/dashboard';
import { startTestApp, type TestApp } from '../helpers/http';
import { startSim } from '../helpers/sandbox';

const PASSWORD = 'correct horse battery';
let seq = 0;
const email = (name: string) => `${name}.${++seq}.${Date.now()}@example.co.ke`;

/** The text of the element with this id (first match; tags inside are kept). */
const byId = (page: string, id: string) => new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(page)?.[1];

function recordingStarter() {
  const started: DeliveryRef[] = [];
  return { started, starter: { start: async (ref: DeliveryRef) => void started.push(ref) } };
}

for (const database of testDatabases()) {
  describe(`dashboard developer pages on ${database.name}`, () => {
    let handle: DatabaseHandle;
    let t: TestApp;
    let sim: SandboxServer;
    const rec = recordingStarter();
    let eventVersion = 0;

    before(async () => {
      handle = await database.open();
      t = await startTestApp({ db: handle, overrides: { deliveryStarter: rec.starter } });
      sim = await startSim();
    });
    after(async () => {
      await sim.close();
      await t.close();
      await handle.close();
    });

    const merchantIdOf = async (name: string) =>
      (await t.db.selectFrom('merchants').select('id').where('name', '=', name).executeTakeFirstOrThrow()).id;

    /** A new business with its owner signed in. */
    async function owner(business: string): Promise<{ b: DashboardClient; merchantId: string }> {
      const b = new DashboardClient(t.url);
      const r = await b.signUp(email('owner'), PASSWORD, business);
      assert.equal(r.status, 303, r.text);
      return { b, merchantId: await merchantIdOf(business) };
    }

    /** Someone the owner invites with `role`, signed in. */
    async function invited(ownerClient: DashboardClient, role: 'viewer' | 'developer') {
      const inv = await ownerClient.submit('/dashboard/settings', '/dashboard/settings/invite', {
        email: email(role),
        role,
      });
      const link = new URL(/id="invite-link">([^<]+)</.exec(inv.text)![1]!).pathname;
      const c = new DashboardClient(t.url);
      await c.get(link);
      assert.equal((await c.post(link, { password: `a ${role} password` })).status, 303);
      return c;
    }

    async function insertEvent(merchantId: string, type = 'payment.success', paymentId?: string) {
      const id = `evt_${crypto.randomBytes(11).toString('hex')}`;
      const pid = paymentId ?? `pay_${crypto.randomBytes(11).toString('hex')}`;
      const body = JSON.stringify({
        id,
        type,
        created: 1751394302 + eventVersion,
        data: { id: pid, object: 'payment', status: type.slice(8), amount: 10 },
      });
      await t.db
        .insertInto('events')
        .values({
          id,
          merchant_id: merchantId,
          environment: 'test',
          type,
          payment_id: pid,
          payment_version: ++eventVersion,
          body,
          // a second apart: the API's event cursor compares timestamps at JavaScript's millisecond precision
          created_at: new Date(Date.UTC(2026, 0, 1) + eventVersion * 1000),
        })
        .execute();
      return id;
    }

    const simChannelForm = (o: Record<string, string> = {}) => ({
      name: 'Sim paybill',
      type: 'paybill',
      shortcode: DEFAULT_APP.shortcode,
      tillNumber: '',
      environment: 'simulator',
      baseUrl: sim.url,
      passkey: DEFAULT_APP.passkey,
      consumerKey: DEFAULT_APP.consumerKey,
      consumerSecret: DEFAULT_APP.consumerSecret,
      initiatorName: '',
      initiatorPassword: '',
      ...o,
    });

    const idFromLocation = (r: { location: string | null }, prefix: string) => {
      const m = new RegExp(`/(${prefix}_[0-9A-Za-z]+)$`).exec(r.location ?? '');
      assert.ok(m, `a redirect to a ${prefix}_ page, got ${r.location}`);
      return m[1]!;
    };

    describe('API keys', () => {
      it('creates a key with the chosen scopes, shows it and its webhook secret once, and it works', async () => {
        const { b, merchantId } = await owner('Keys Shop');
        const empty = await b.get('/dashboard/keys');
        assert.equal(empty.status, 200);
        assert.match(empty.text, /No test keys yet/);

        const form = await b.get('/dashboard/keys/new');
        assert.equal(form.status, 200);
        // the owner may grant every scope, `*` included; each checkbox has its label
        assert.match(form.text, /<input type="checkbox" id="scopes-(\d+)" name="scopes" value="\*">/);
        assert.match(form.text, /<label for="scopes-0">payments:create/);
        assert.match(form.text, /<label for="label">Label<\/label>/);

        const created = await b.post('/dashboard/keys', {
          label: 'Shop backend',
          scopes: 'payments:read',
        });
        // a second scope: the form posts repeated fields
        assert.equal(created.status, 201, created.text);
        assert.equal(created.headers.get('cache-control'), 'no-store');
        const key = byId(created.text, 'new-key')!;
        const secret = byId(created.text, 'new-webhook-secret')!;
        assert.match(key, /^mlp_test_/);
        assert.match(secret, /^whsec_/);
        assert.match(created.text, new RegExp(`data-copy="${key}"`));
        assert.match(created.text, /Copy it now/);
        // the key works against the API with exactly its scope
        assert.equal((await t.request('GET', '/v1/payments', { key })).status, 200);
        assert.equal((await t.request('GET', '/v1/channels', { key })).status, 403);

        const list = await b.get('/dashboard/keys');
        assert.match(list.text, /Shop backend/);
        const row = await t.db
          .selectFrom('api_keys')
          .select(['id', 'prefix', 'last4'])
          .where('merchant_id', '=', merchantId)
          .executeTakeFirstOrThrow();
        assert.match(list.text, new RegExp(`${row.prefix}…${row.last4}`));
        assert.doesNotMatch(list.text, new RegExp(key)); // never again
        const detail = await b.get(`/dashboard/keys/${row.id}`);
        assert.equal(detail.status, 200);
        assert.doesNotMatch(detail.text, new RegExp(`${key}|${secret.replace(/[+/=]/g, '.')}`));
        assert.match(detail.text, /payments:read/);
      });

      it('posts several scopes and an expiry date; errors come back next to their fields', async () => {
        const { b } = await owner('Scopes Shop');
        await b.get('/dashboard/keys/new');
        const body = new URLSearchParams({ _csrf: b.csrf, label: 'Two scopes', expiresAt: '2099-12-31' });
        body.append('scopes', 'payments:create');
        body.append('scopes', 'payments:read');
        const res = await fetch(`${t.url}/dashboard/keys`, {
          method: 'POST',
          redirect: 'manual',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            cookie: b.cookieHeader(),
            origin: t.url,
          },
          body: body.toString(),
        });
        const text = await res.text();
        assert.equal(res.status, 201, text);
        assert.match(text, /Scopes: payments:create, payments:read\./);
        const key = byId(text, 'new-key')!;
        const row = await t.db
          .selectFrom('api_keys')
          .select(['scopes', 'expires_at'])
          .where('label', '=', 'Two scopes')
          .executeTakeFirstOrThrow();
        assert.deepEqual(row.scopes, ['payments:create', 'payments:read']);
        // the end of that day in Nairobi
        assert.equal(new Date(row.expires_at!).toISOString(), '2099-12-31T20:59:59.999Z');
        assert.equal((await t.request('GET', '/v1/payments', { key })).status, 200);

        const none = await b.post('/dashboard/keys', { label: 'No scopes' });
        assert.equal(none.status, 400);
        assert.match(none.text, /id="scopes-error">Choose at least one scope/);
        assert.match(none.text, /value="No scopes"/); // what was typed stays
        const past = await b.post('/dashboard/keys', { scopes: 'payments:read', expiresAt: '2001-01-01' });
        assert.equal(past.status, 400);
        assert.match(past.text, /id="expiresAt-error">must be in the future/);
        const long = await b.post('/dashboard/keys', { scopes: 'payments:read', label: 'x'.repeat(101) });
        assert.equal(long.status, 400);
        assert.match(long.text, /id="label-error">/);
        const bogus = await b.post('/dashboard/keys', { scopes: 'root:all' });
        assert.equal(bogus.status, 400);
        assert.match(bogus.text, /id="scopes-error">/);
      });

      it('a developer is not offered `*`, and the API refuses it when posted anyway', async () => {
        const { b } = await owner('Grant Shop');
        const dev = await invited(b, 'developer');
        const form = await dev.get('/dashboard/keys/new');
        assert.equal(form.status, 200);
        assert.doesNotMatch(form.text, /value="\*"/);
        const r = await dev.post('/dashboard/keys', { scopes: '*' });
        assert.equal(r.status, 403);
        assert.match(r.text, /A key can create only keys whose scopes it holds itself; this key lacks \*/);
      });

      it('rotates with an overlap, or at once, and revokes after a confirmation', async () => {
        const { b, merchantId } = await owner('Rotate Shop');
        const first = await t.key(merchantId, ['payments:read']);
        const page = await b.get(`/dashboard/keys/${first.id}`);
        assert.match(page.text, /id="key-rotate-form"/);
        assert.match(page.text, /<label for="overlapSeconds">Keep the old key working for<\/label>/);

        const rotated = await b.post(`/dashboard/keys/${first.id}/rotate`, { overlapSeconds: '3600' });
        assert.equal(rotated.status, 201, rotated.text);
        assert.equal(rotated.headers.get('cache-control'), 'no-store');
        const second = byId(rotated.text, 'new-key')!;
        assert.match(second, /^mlp_test_/);
        assert.match(rotated.text, /keeps working until/);
        // both work during the overlap
        assert.equal((await t.request('GET', '/v1/payments', { key: first.key })).status, 200);
        assert.equal((await t.request('GET', '/v1/payments', { key: second })).status, 200);

        const secondId = (
          await t.db
            .selectFrom('api_keys')
            .select('id')
            .where('replaced_by', 'is', null)
            .where('merchant_id', '=', merchantId)
            .where('revoked_at', 'is', null)
            .orderBy('created_at', 'desc')
            .executeTakeFirstOrThrow()
        ).id;
        const bad = await b.post(`/dashboard/keys/${secondId}/rotate`, { overlapSeconds: 'soon' });
        assert.equal(bad.status, 400);
        assert.match(bad.text, /id="overlapSeconds-error">/);

        const now = await b.post(`/dashboard/keys/${secondId}/rotate`, { overlapSeconds: '0' });
        assert.equal(now.status, 201, now.text);
        assert.match(now.text, /no longer works/);
        assert.equal((await t.request('GET', '/v1/payments', { key: second })).status, 401);
        const third = byId(now.text, 'new-key')!;
        // an inactive key cannot rotate again: the API's CONFLICT on the key's page
        const again = await b.post(`/dashboard/keys/${secondId}/rotate`, { overlapSeconds: '0' });
        assert.equal(again.status, 409);
        assert.match(again.text, /Only an active key can be rotated/);

        const thirdId = (
          await t.db
            .selectFrom('api_keys')
            .select('id')
            .where('merchant_id', '=', merchantId)
            .where('revoked_at', 'is', null)
            .where('replaced_by', 'is', null)
            .orderBy('created_at', 'desc')
            .executeTakeFirstOrThrow()
        ).id;
        const confirm = await b.get(`/dashboard/keys/${thirdId}/revoke`);
        assert.equal(confirm.status, 200);
        assert.match(confirm.text, /Revoke this key\?/);
        assert.match(confirm.text, new RegExp(`action="/dashboard/keys/${thirdId}/revoke"`));
        assert.equal((await t.request('GET', '/v1/payments', { key: third })).status, 200); // not yet
        const revoked = await b.post(`/dashboard/keys/${thirdId}/revoke`, {});
        assert.equal(revoked.status, 303);
        assert.equal(revoked.location, `/dashboard/keys/${thirdId}`);
        assert.equal((await t.request('GET', '/v1/payments', { key: third })).status, 401);
        const after = await b.get(`/dashboard/keys/${thirdId}`);
        assert.match(after.text, /is revoked\./);
        assert.match(after.text, /badge revoked/);
        assert.doesNotMatch(after.text, /key-rotate-form/);
      });

      it('pages the list 20 at a time, newest first', async () => {
        const { b, merchantId } = await owner('Many Keys Shop');
        for (let i = 0; i < 23; i++) {
          await t.db
            .insertInto('api_keys')
            .values({
              id: newId('apiKey'),
              merchant_id: merchantId,
              environment: 'test',
              label: `key ${String(i).padStart(2, '0')}`,
              scopes: JSON.stringify(['payments:read']),
              prefix: 'mlp_test_Ab3x',
              last4: String(1000 + i),
              key_hash: crypto.randomBytes(32).toString('hex'),
              webhook_secret_enc: t.secretBox.seal('whsec_x'),
              created_at: new Date(Date.UTC(2025, 0, 1, 0, i)),
            })
            .execute();
        }
        const one = await b.get('/dashboard/keys');
        const rows = (s: string) => [...s.matchAll(/data-key-id="(key_[0-9A-Za-z]+)"/g)].map((m) => m[1]!);
        assert.equal(rows(one.text).length, 20);
        assert.match(one.text, />key 22</);
        assert.doesNotMatch(one.text, />key 02</);
        const older = /href="([^"]+)" rel="next"/.exec(one.text)![1]!.replace(/&amp;/g, '&');
        const two = await b.get(older);
        assert.equal(rows(two.text).length, 3);
        assert.match(two.text, />key 00</);
        assert.match(two.text, /← Newest/);
        assert.equal(new Set([...rows(one.text), ...rows(two.text)]).size, 23);
        assert.equal((await b.get('/dashboard/keys?cursor=key_nope12345')).status, 400);
      });
    });

    describe('channels', () => {
      it('creates a simulator channel, never shows its credentials, and tests them against Daraja', async () => {
        const { b } = await owner('Channel Shop');
        const empty = await b.get('/dashboard/channels');
        assert.match(empty.text, /No test channels yet/);
        const form = await b.get('/dashboard/channels/new');
        // a test session may create only simulator and sandbox channels
        assert.match(form.text, /<option value="simulator"/);
        assert.match(form.text, /<option value="safaricom-sandbox"/);
        assert.doesNotMatch(form.text, /<option value="production"/);
        assert.match(form.text, /<label for="consumerSecret">Consumer secret<\/label>/);

        const created = await b.post('/dashboard/channels', simChannelForm());
        assert.equal(created.status, 303, created.text);
        const id = idFromLocation(created, 'ch');
        const page = await b.get(`/dashboard/channels/${id}`);
        assert.equal(page.status, 200);
        assert.match(page.text, /Channel Sim paybill created/);
        for (const s of [DEFAULT_APP.passkey, DEFAULT_APP.consumerKey, DEFAULT_APP.consumerSecret]) {
          assert.ok(!page.text.includes(s), 'no credential on the page');
        }
        assert.match(page.text, /Leave blank to keep the stored value/);
        const list = await b.get('/dashboard/channels');
        assert.match(list.text, new RegExp(`data-channel-id="${id}"`));
        assert.match(list.text, /badge default/);

        const tested = await b.post(`/dashboard/channels/${id}/test`, {});
        assert.equal(tested.status, 303);
        const ok = await b.get(`/dashboard/channels/${id}`);
        assert.match(
          ok.text,
          /class="flash ok"[^>]*>Test passed: Daraja accepted the consumer key and secret\./,
        );

        // a blank secret keeps the stored one; a new wrong one is what the next test uses
        const renamed = await b.post(`/dashboard/channels/${id}`, {
          ...simChannelForm({ name: 'Renamed', passkey: '', consumerKey: '', consumerSecret: '' }),
        });
        assert.equal(renamed.status, 303, renamed.text);
        await b.post(`/dashboard/channels/${id}/test`, {});
        assert.match((await b.get(`/dashboard/channels/${id}`)).text, /Test passed/);
        const api = await t.db
          .selectFrom('channels')
          .selectAll()
          .where('id', '=', id)
          .executeTakeFirstOrThrow();
        assert.equal(api.name, 'Renamed');
        assert.equal(t.secretBox.open(api.consumer_secret_enc), DEFAULT_APP.consumerSecret);

        await b.post(`/dashboard/channels/${id}`, {
          ...simChannelForm({
            name: 'Renamed',
            passkey: '',
            consumerKey: '',
            consumerSecret: 'wrong-secret',
          }),
        });
        await b.post(`/dashboard/channels/${id}/test`, {});
        const failed = await b.get(`/dashboard/channels/${id}`);
        assert.match(
          failed.text,
          /class="flash error"[^>]*>Test failed: Daraja refused the consumer key and secret: 400\.008\.01 Invalid Authentication passed\./,
        );
      });

      it('re-renders the form with each field’s message, and keeps the environment rule', async () => {
        const { b } = await owner('Bad Channel Shop');
        await b.get('/dashboard/channels/new');
        const missing = await b.post(
          '/dashboard/channels',
          simChannelForm({ shortcode: '', consumerSecret: '', baseUrl: '' }),
        );
        assert.equal(missing.status, 400);
        assert.match(missing.text, /id="shortcode-error">Fill this in/);
        assert.match(missing.text, /id="consumerSecret-error">Fill this in/);
        assert.match(missing.text, /value="Sim paybill"/); // kept
        assert.ok(!missing.text.includes(DEFAULT_APP.consumerKey), 'typed secrets are not echoed back');

        const noBase = await b.post('/dashboard/channels', simChannelForm({ baseUrl: '' }));
        assert.equal(noBase.status, 400);
        assert.match(noBase.text, /id="baseUrl-error">a simulator channel needs the base URL/);
        const till = await b.post('/dashboard/channels', simChannelForm({ type: 'till' }));
        assert.equal(till.status, 400);
        assert.match(till.text, /id="tillNumber-error">a till channel needs its till number/);
        const prod = await b.post('/dashboard/channels', simChannelForm({ environment: 'production' }));
        assert.equal(prod.status, 403);
        assert.match(prod.text, /id="environment-error">not allowed for a test key/);

        // a live session is offered production only
        await b.post('/dashboard/environment', { environment: 'live', back: '/dashboard/channels' });
        const live = await b.get('/dashboard/channels/new');
        assert.match(live.text, /<option value="production"/);
        assert.doesNotMatch(live.text, /<option value="simulator"/);
        assert.match((await b.get('/dashboard/channels')).text, /No live channels yet/);
      });

      it('edits only what changed, disables, enables and deletes (or disables a channel payments use)', async () => {
        const { b, merchantId } = await owner('Edit Channel Shop');
        await b.get('/dashboard/channels/new');
        const id = idFromLocation(await b.post('/dashboard/channels', simChannelForm()), 'ch');
        await b.get(`/dashboard/channels/${id}`);
        const badEdit = await b.post(`/dashboard/channels/${id}`, simChannelForm({ shortcode: '12' }));
        assert.equal(badEdit.status, 400);
        assert.match(badEdit.text, /id="shortcode-error">must be 5 to 8 digits/);
        assert.match(badEdit.text, /value="12"/);
        // the edit form posts blank credentials (kept) and the shown values: nothing to change
        const same = await b.post(
          `/dashboard/channels/${id}`,
          simChannelForm({ passkey: '', consumerKey: '', consumerSecret: '' }),
        );
        assert.equal(same.status, 303);
        assert.match((await b.get(`/dashboard/channels/${id}`)).text, /Nothing changed/);
        const audits = await t.db
          .selectFrom('audit_log')
          .select('action')
          .where('target_id', '=', id)
          .execute();
        assert.deepEqual(
          audits.map((a) => a.action),
          ['channel.create'],
        );

        assert.equal((await b.post(`/dashboard/channels/${id}/status`, { status: 'disabled' })).status, 303);
        const disabled = await b.get(`/dashboard/channels/${id}`);
        assert.match(disabled.text, /badge disabled/);
        assert.match(disabled.text, /Enable channel/);
        await b.post(`/dashboard/channels/${id}/status`, { status: 'active' });
        assert.match((await b.get(`/dashboard/channels/${id}`)).text, /badge active/);

        const confirm = await b.get(`/dashboard/channels/${id}/delete`);
        assert.match(confirm.text, /Delete this channel\?/);
        const deleted = await b.post(`/dashboard/channels/${id}/delete`, {});
        assert.equal(deleted.location, '/dashboard/channels');
        assert.equal((await b.get(`/dashboard/channels/${id}`)).status, 404);

        // a channel a payment used is disabled instead
        const used = idFromLocation(await b.post('/dashboard/channels', simChannelForm()), 'ch');
        await t.db
          .insertInto('payments')
          .values({
            id: newId('payment'),
            merchant_id: merchantId,
            environment: 'test',
            channel_id: used,
            status: 'success',
            amount: 10,
            phone: '254708374149',
            reference: 'USED',
            description: 'test',
          })
          .execute();
        await b.get(`/dashboard/channels/${used}/delete`);
        const kept = await b.post(`/dashboard/channels/${used}/delete`, {});
        assert.equal(kept.location, `/dashboard/channels/${used}`);
        assert.match((await b.get(`/dashboard/channels/${used}`)).text, /disabled instead of deleted/);
      });
    });

    it('pages the channels and the endpoints 20 at a time, newest first', async () => {
      const { b, merchantId } = await owner('Many Things Shop');
      const key = (await t.key(merchantId, ['*'])).key;
      for (let i = 0; i < 21; i++) {
        await t.channel(merchantId, { name: `channel ${String(i).padStart(2, '0')}`, isDefault: i === 0 });
        const r = await t.request('POST', '/v1/webhook-endpoints', {
          key,
          body: { url: `http://127.0.0.1:9/hook-${String(i).padStart(2, '0')}`, events: ['*'] },
        });
        assert.equal(r.status, 201, r.text);
      }
      for (const [list, attr, newest, oldest] of [
        ['/dashboard/channels', 'data-channel-id', />channel 20</, />channel 00</],
        ['/dashboard/webhooks', 'data-endpoint-id', /\/hook-20</, /\/hook-00</],
      ] as const) {
        const rows = (text: string) =>
          [...text.matchAll(new RegExp(`${attr}="([^"]+)"`, 'g'))].map((m) => m[1]);
        const one = await b.get(list);
        assert.equal(rows(one.text).length, 20, list);
        assert.match(one.text, newest);
        assert.doesNotMatch(one.text, oldest);
        const older = /href="([^"]+)" rel="next"/.exec(one.text)![1]!.replace(/&amp;/g, '&');
        const two = await b.get(older);
        assert.equal(rows(two.text).length, 1, list);
        assert.match(two.text, oldest);
        assert.doesNotMatch(two.text, /rel="next"/);
      }
    });

    describe('webhooks', () => {
      it('registers an endpoint (secret shown once), edits, disables, rotates the secret and deletes it', async () => {
        const { b } = await owner('Hooks Shop');
        assert.match((await b.get('/dashboard/webhooks')).text, /No test endpoints yet/);
        const form = await b.get('/dashboard/webhooks/new');
        assert.match(form.text, /<label for="url">Endpoint URL<\/label>/);
        assert.match(form.text, /<legend>Events to send<\/legend>/);
        const created = await b.post('/dashboard/webhooks', {
          url: 'http://127.0.0.1:9/hooks/malipo',
          events: 'payment.success',
          description: 'orders',
        });
        assert.equal(created.status, 201, created.text);
        assert.equal(created.headers.get('cache-control'), 'no-store');
        const secret = byId(created.text, 'new-endpoint-secret')!;
        assert.match(secret, /^whsec_/);
        const id = /href="\/dashboard\/webhooks\/(we_[0-9A-Za-z]+)"/.exec(created.text)![1]!;
        const list = await b.get('/dashboard/webhooks');
        assert.match(list.text, new RegExp(`data-endpoint-id="${id}"`));
        assert.match(list.text, /payment\.success/);
        const page = await b.get(`/dashboard/webhooks/${id}`);
        assert.ok(!page.text.includes(secret), 'the secret is never shown again');

        const refused = await b.post(`/dashboard/webhooks/${id}`, {
          url: 'http://10.1.2.3/hook',
          events: 'payment.failed',
          description: 'orders',
        });
        assert.equal(refused.status, 400);
        assert.match(refused.text, /id="url-error">[^<]*private/);
        assert.match(refused.text, /value="http:\/\/10\.1\.2\.3\/hook"/);
        const noEvents = await b.post(`/dashboard/webhooks/${id}`, {
          url: 'http://127.0.0.1:9/hooks/malipo',
          description: '',
        });
        assert.equal(noEvents.status, 400);
        assert.match(noEvents.text, /id="events-error">Choose at least one event/);
        const saved = await b.post(`/dashboard/webhooks/${id}`, {
          url: 'http://127.0.0.1:9/hooks/v2',
          events: '*',
          description: 'all of them',
        });
        assert.equal(saved.status, 303, saved.text);
        const edited = await b.get(`/dashboard/webhooks/${id}`);
        assert.match(edited.text, /value="http:\/\/127\.0\.0\.1:9\/hooks\/v2"/);
        assert.match(edited.text, /value="\*" checked/);

        await b.post(`/dashboard/webhooks/${id}/enabled`, { enabled: 'false' });
        const off = await b.get(`/dashboard/webhooks/${id}`);
        assert.match(off.text, /badge disabled/);
        assert.match(off.text, /Enable endpoint/);
        await b.post(`/dashboard/webhooks/${id}/enabled`, { enabled: 'true' });
        assert.match((await b.get(`/dashboard/webhooks/${id}`)).text, /badge active/);

        const rotated = await b.post(`/dashboard/webhooks/${id}/rotate-secret`, { overlapSeconds: '3600' });
        assert.equal(rotated.status, 201, rotated.text);
        const next = byId(rotated.text, 'new-endpoint-secret')!;
        assert.match(next, /^whsec_/);
        assert.notEqual(next, secret);
        assert.match(rotated.text, /also signs until/);
        const badRotate = await b.post(`/dashboard/webhooks/${id}/rotate-secret`, { overlapSeconds: '-5' });
        assert.equal(badRotate.status, 400);
        assert.match(badRotate.text, /id="overlapSeconds-error">/);

        assert.match((await b.get(`/dashboard/webhooks/${id}/delete`)).text, /Delete this endpoint\?/);
        const gone = await b.post(`/dashboard/webhooks/${id}/delete`, {});
        assert.equal(gone.location, '/dashboard/webhooks');
        assert.equal((await b.get(`/dashboard/webhooks/${id}`)).status, 404);
      });

      it('shows the event log with its filters and pages, an event’s deliveries, and redelivers it', async () => {
        const { b, merchantId } = await owner('Events Shop');
        assert.match((await b.get('/dashboard/webhooks/events')).text, /No events yet/);
        const ids: string[] = [];
        for (let i = 0; i < 22; i++)
          ids.push(await insertEvent(merchantId, i % 2 ? 'payment.failed' : 'payment.success'));
        const target = await insertEvent(merchantId, 'payment.success', 'pay_TARGET1234567');

        const log = await b.get('/dashboard/webhooks/events');
        const rows = (s: string) => [...s.matchAll(/data-event-id="(evt_[0-9a-f]+)"/g)].map((m) => m[1]!);
        assert.equal(rows(log.text).length, 20);
        assert.equal(rows(log.text)[0], target);
        const older = /href="([^"]+)" rel="next"/.exec(log.text)![1]!.replace(/&amp;/g, '&');
        assert.equal(rows((await b.get(older)).text).length, 3);

        const failedOnly = await b.get('/dashboard/webhooks/events?type=payment.failed');
        assert.equal(rows(failedOnly.text).length, 11);
        assert.doesNotMatch(failedOnly.text, /data-label="Type">payment\.success</);
        assert.match(failedOnly.text, /<option value="payment\.failed" selected>/);
        const byPayment = await b.get('/dashboard/webhooks/events?paymentId=pay_TARGET1234567');
        assert.deepEqual(rows(byPayment.text), [target]);
        assert.match(byPayment.text, /href="\/dashboard\/payments\/pay_TARGET1234567"/);
        const none = await b.get('/dashboard/webhooks/events?type=payout.failed');
        assert.match(none.text, /No events match/);
        const bad = await b.get('/dashboard/webhooks/events?paymentId=nope');
        assert.equal(bad.status, 400);
        assert.match(bad.text, /id="paymentId-error">must look like pay_…/);

        const event = await b.get(`/dashboard/webhooks/events/${target}`);
        assert.equal(event.status, 200);
        assert.match(event.text, /No deliveries/);
        assert.match(event.text, /pay_TARGET1234567/);
        const nothing = await b.post(`/dashboard/webhooks/events/${target}/redeliver`, {});
        assert.equal(nothing.status, 303);
        assert.match((await b.get(`/dashboard/webhooks/events/${target}`)).text, /no current target/);

        // an endpoint subscribed to the type is a current target
        await b.get('/dashboard/webhooks/new');
        const ep = await b.post('/dashboard/webhooks', {
          url: 'http://127.0.0.1:9/e',
          events: 'payment.success',
        });
        const endpointId = /href="\/dashboard\/webhooks\/(we_[0-9A-Za-z]+)"/.exec(ep.text)![1]!;
        await b.get(`/dashboard/webhooks/events/${target}`);
        const before = rec.started.length;
        const again = await b.post(`/dashboard/webhooks/events/${target}/redeliver`, { endpointId });
        assert.equal(again.status, 303);
        assert.equal(rec.started.length, before + 1);
        assert.equal(rec.started.at(-1)!.eventId, target);
        const shown = await b.get(`/dashboard/webhooks/events/${target}`);
        assert.match(shown.text, /Redelivery started: 1 delivery\./);
        assert.match(shown.text, /data-delivery-id="dlv_/);
        assert.match(shown.text, /first delivery · 0 attempts/);
        // to every current target: the subscribed endpoint again
        await b.post(`/dashboard/webhooks/events/${target}/redeliver`, { endpointId: '' });
        assert.equal(rec.started.length, before + 2);
        const twice = await b.get(`/dashboard/webhooks/events/${target}`);
        assert.match(twice.text, /redelivery 1 · 0 attempts/);
        assert.equal([...twice.text.matchAll(/data-delivery-id="dlv_/g)].length, 2);
        assert.match(shown.text, /http:\/\/127\.0\.0\.1:9\/e/);
      });
    });

    it("a session of merchant A never sees or changes merchant B's keys, channels, endpoints or events", async () => {
      const a = await owner('Tenant A');
      const bShop = await owner('Tenant B');
      const bKey = await t.key(bShop.merchantId, ['payments:read']);
      await bShop.b.get('/dashboard/channels/new');
      const bChannel = idFromLocation(
        await bShop.b.post('/dashboard/channels', simChannelForm({ name: 'B till' })),
        'ch',
      );
      await bShop.b.get('/dashboard/webhooks/new');
      const bEp = await bShop.b.post('/dashboard/webhooks', { url: 'http://127.0.0.1:9/b', events: '*' });
      const bEndpoint = /href="\/dashboard\/webhooks\/(we_[0-9A-Za-z]+)"/.exec(bEp.text)![1]!;
      const bEvent = await insertEvent(bShop.merchantId);

      for (const list of [
        '/dashboard/keys',
        '/dashboard/channels',
        '/dashboard/webhooks',
        '/dashboard/webhooks/events',
      ]) {
        const r = await a.b.get(list);
        assert.equal(r.status, 200, list);
        for (const id of [bKey.id, bChannel, bEndpoint, bEvent])
          assert.ok(!r.text.includes(id), `${list} shows ${id}`);
      }
      for (const p of [
        `/dashboard/keys/${bKey.id}`,
        `/dashboard/keys/${bKey.id}/revoke`,
        `/dashboard/channels/${bChannel}`,
        `/dashboard/channels/${bChannel}/delete`,
        `/dashboard/webhooks/${bEndpoint}`,
        `/dashboard/webhooks/${bEndpoint}/delete`,
        `/dashboard/webhooks/events/${bEvent}`,
      ]) {
        const r = await a.b.get(p);
        assert.equal(r.status, 404, p);
        assert.match(r.text, /data-code="RESOURCE_NOT_FOUND"/, p);
      }
      await a.b.get('/dashboard/keys');
      const posts: Array<[string, Record<string, string>]> = [
        [`/dashboard/keys/${bKey.id}/rotate`, { overlapSeconds: '0' }],
        [`/dashboard/keys/${bKey.id}/revoke`, {}],
        [`/dashboard/channels/${bChannel}`, simChannelForm({ name: 'Stolen' })],
        [`/dashboard/channels/${bChannel}/status`, { status: 'disabled' }],
        [`/dashboard/channels/${bChannel}/test`, {}],
        [`/dashboard/channels/${bChannel}/delete`, {}],
        [`/dashboard/webhooks/${bEndpoint}`, { url: 'http://127.0.0.1:9/stolen', events: '*' }],
        [`/dashboard/webhooks/${bEndpoint}/enabled`, { enabled: 'false' }],
        [`/dashboard/webhooks/${bEndpoint}/rotate-secret`, { overlapSeconds: '0' }],
        [`/dashboard/webhooks/${bEndpoint}/delete`, {}],
        [`/dashboard/webhooks/events/${bEvent}/redeliver`, {}],
      ];
      const started = rec.started.length;
      for (const [p, form] of posts) {
        const r = await a.b.post(p, form);
        assert.equal(r.status, 404, `${p}: ${r.text.slice(0, 200)}`);
      }
      assert.equal(rec.started.length, started);
      // B's things are as B left them
      const key = await t.db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', bKey.id)
        .executeTakeFirstOrThrow();
      assert.equal(key.revoked_at, null);
      assert.equal(key.replaced_by, null);
      const ch = await t.db
        .selectFrom('channels')
        .selectAll()
        .where('id', '=', bChannel)
        .executeTakeFirstOrThrow();
      assert.equal(ch.name, 'B till');
      assert.equal(ch.status, 'active');
      const ep = await t.db
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('id', '=', bEndpoint)
        .executeTakeFirstOrThrow();
      assert.equal(ep.url, 'http://127.0.0.1:9/b');
      assert.equal(ep.enabled, true);
      // and A's session creates only A's things
      await a.b.get('/dashboard/keys/new');
      await a.b.post('/dashboard/keys', { scopes: 'payments:read', label: 'A only' });
      const made = await t.db
        .selectFrom('api_keys')
        .select('merchant_id')
        .where('label', '=', 'A only')
        .execute();
      assert.deepEqual(
        made.map((m) => m.merchant_id),
        [a.merchantId],
      );
    });

    it('a viewer reads channels but cannot mutate anything: MISSING_SCOPE from the API rule', async () => {
      const o = await owner('Viewer Dev Shop');
      const key = await t.key(o.merchantId, ['payments:read']);
      await o.b.get('/dashboard/channels/new');
      const channel = idFromLocation(await o.b.post('/dashboard/channels', simChannelForm()), 'ch');
      await o.b.get('/dashboard/webhooks/new');
      const ep = await o.b.post('/dashboard/webhooks', { url: 'http://127.0.0.1:9/v', events: '*' });
      const endpoint = /href="\/dashboard\/webhooks\/(we_[0-9A-Za-z]+)"/.exec(ep.text)![1]!;
      const event = await insertEvent(o.merchantId);
      const viewer = await invited(o.b, 'viewer');

      const channels = await viewer.get('/dashboard/channels');
      assert.equal(channels.status, 200);
      assert.match(channels.text, new RegExp(`data-channel-id="${channel}"`));
      assert.doesNotMatch(channels.text, /new-channel-link/);
      const one = await viewer.get(`/dashboard/channels/${channel}`);
      assert.equal(one.status, 200);
      assert.doesNotMatch(one.text, /channel-form|channel-test-form/);
      for (const p of [
        '/dashboard/keys',
        '/dashboard/keys/new',
        '/dashboard/webhooks',
        '/dashboard/channels/new',
      ]) {
        const r = await viewer.get(p);
        assert.equal(r.status, 403, p);
        assert.match(r.text, /data-code="MISSING_SCOPE"/, p);
      }
      const posts: Array<[string, Record<string, string>]> = [
        ['/dashboard/keys', { scopes: 'payments:read' }],
        [`/dashboard/keys/${key.id}/rotate`, { overlapSeconds: '0' }],
        [`/dashboard/keys/${key.id}/revoke`, {}],
        ['/dashboard/channels', simChannelForm()],
        [`/dashboard/channels/${channel}`, simChannelForm({ name: 'Viewer was here' })],
        [`/dashboard/channels/${channel}/status`, { status: 'disabled' }],
        [`/dashboard/channels/${channel}/test`, {}],
        [`/dashboard/channels/${channel}/delete`, {}],
        ['/dashboard/webhooks', { url: 'http://127.0.0.1:9/x', events: '*' }],
        [`/dashboard/webhooks/${endpoint}`, { url: 'http://127.0.0.1:9/x', events: '*' }],
        [`/dashboard/webhooks/${endpoint}/enabled`, { enabled: 'false' }],
        [`/dashboard/webhooks/${endpoint}/rotate-secret`, {}],
        [`/dashboard/webhooks/${endpoint}/delete`, {}],
        [`/dashboard/webhooks/events/${event}/redeliver`, {}],
      ];
      const keysBefore = (
        await t.db.selectFrom('api_keys').select('id').where('merchant_id', '=', o.merchantId).execute()
      ).length;
      for (const [p, form] of posts) {
        const r = await viewer.post(p, form);
        assert.equal(r.status, 403, `${p}: ${r.text.slice(0, 200)}`);
        assert.match(r.text, /data-code="MISSING_SCOPE"/, p);
      }
      const keysAfter = (
        await t.db.selectFrom('api_keys').select('id').where('merchant_id', '=', o.merchantId).execute()
      ).length;
      assert.equal(keysAfter, keysBefore);
      const k = await t.db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', key.id)
        .executeTakeFirstOrThrow();
      assert.equal(k.revoked_at, null);
      const ch = await t.db
        .selectFrom('channels')
        .selectAll()
        .where('id', '=', channel)
        .executeTakeFirstOrThrow();
      assert.equal(ch.status, 'active');
      assert.notEqual(ch.name, 'Viewer was here');
      assert.equal(
        (await t.db.selectFrom('webhook_endpoints').select('id').where('id', '=', endpoint).execute()).length,
        1,
      );
    });

    it('refuses every POST of these pages without the CSRF token', async () => {
      const o = await owner('Csrf Dev Shop');
      const key = await t.key(o.merchantId, ['payments:read']);
      await o.b.get('/dashboard/channels/new');
      const channel = idFromLocation(await o.b.post('/dashboard/channels', simChannelForm()), 'ch');
      await o.b.get('/dashboard/webhooks/new');
      const ep = await o.b.post('/dashboard/webhooks', { url: 'http://127.0.0.1:9/c', events: '*' });
      const endpoint = /href="\/dashboard\/webhooks\/(we_[0-9A-Za-z]+)"/.exec(ep.text)![1]!;
      const event = await insertEvent(o.merchantId);
      const started = rec.started.length;
      const posts: Array<[string, Record<string, string>]> = [
        ['/dashboard/keys', { scopes: 'payments:read', label: 'csrf' }],
        [`/dashboard/keys/${key.id}/rotate`, { overlapSeconds: '0' }],
        [`/dashboard/keys/${key.id}/revoke`, {}],
        ['/dashboard/channels', simChannelForm({ name: 'csrf' })],
        [`/dashboard/channels/${channel}`, simChannelForm({ name: 'csrf' })],
        [`/dashboard/channels/${channel}/status`, { status: 'disabled' }],
        [`/dashboard/channels/${channel}/test`, {}],
        [`/dashboard/channels/${channel}/delete`, {}],
        ['/dashboard/webhooks', { url: 'http://127.0.0.1:9/csrf', events: '*' }],
        [`/dashboard/webhooks/${endpoint}`, { url: 'http://127.0.0.1:9/csrf', events: '*' }],
        [`/dashboard/webhooks/${endpoint}/enabled`, { enabled: 'false' }],
        [`/dashboard/webhooks/${endpoint}/rotate-secret`, {}],
        [`/dashboard/webhooks/${endpoint}/delete`, {}],
        [`/dashboard/webhooks/events/${event}/redeliver`, {}],
      ];
      for (const [p, form] of posts) {
        const r = await o.b.post(p, { ...form, _csrf: null });
        assert.equal(r.status, 403, p);
        assert.match(r.text, /data-code="FORBIDDEN"/, p);
      }
      assert.equal(rec.started.length, started);
      assert.equal(
        (await t.db.selectFrom('api_keys').select('id').where('label', '=', 'csrf').execute()).length,
        0,
      );
      const k = await t.db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', key.id)
        .executeTakeFirstOrThrow();
      assert.equal(k.revoked_at, null);
      assert.equal(k.replaced_by, null);
      const ch = await t.db
        .selectFrom('channels')
        .selectAll()
        .where('id', '=', channel)
        .executeTakeFirstOrThrow();
      assert.equal(ch.status, 'active');
      assert.notEqual(ch.name, 'csrf');
      const e = await t.db
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('id', '=', endpoint)
        .executeTakeFirstOrThrow();
      assert.equal(e.enabled, true);
      assert.equal(e.url, 'http://127.0.0.1:9/c');
    });
  });
}
