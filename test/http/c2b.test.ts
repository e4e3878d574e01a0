/**
 * C2B over HTTP: registering a channel's URLs (against a fake Daraja and the simulator), the settings
 * routes with their security cases, and Daraja's two hooks fed the exact v2 payloads: the validation
 * rules, the confirmation recorded once with one `payment.c2b` event and its webhook deliveries planned,
 * repeated TransIDs, wrong tokens, unreadable bodies, and the database being down.
 * Delivery workflows are not run here: a fake DeliveryStarter records what would be started.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { c2bHookPath, c2bToken, channelSegment } from '../../src/c2b';
import { openDatabase } from '../../src/db';
import { callbackSecretOf } from '../../src/http/app';
import { createLogger } from '../../src/logger';
import { DEFAULT_APP } from '../../src/sandbox';
import type { DeliveryRef } from '../../src/webhooks/repository';
import type { Resolver } from '../../src/webhooks/ssrf';
import { CHANNEL_DEFAULTS, expectEnvelope, expectSecured, startTestApp, type TestApp } from '../helpers/http';
import { startSim } from '../helpers/sandbox';

// biome-ignore lint/suspicious/noExplicitAny: JSON read from the API
type Json = any;

/** Public DNS for the webhook SSRF guard. */
const resolver: Resolver = async (host) => {
  if (host === 'hooks.example.com') return [{ address: '93.184.216.34', family: 4 }];
  throw new Error(`ENOTFOUND ${host}`);
};

type FakeMode = 'ok' | 'already' | 'fault409' | 'invalid' | 'html502' | 'badtoken';

/** Just enough Daraja: OAuth and Register URL v2, answering as `mode` says; records what it got. */
async function startFakeDaraja() {
  const state = { mode: 'ok' as FakeMode, registrations: [] as Json[] };
  const app = express();
  app.use(express.json());
  app.get('/oauth/v1/generate', (_req, res) => {
    if (state.mode === 'badtoken') {
      res
        .status(400)
        .json({ requestId: '1-2-3', errorCode: '400.008.02', errorMessage: 'Invalid grant type' });
      return;
    }
    res.json({ access_token: 'fake-token', expires_in: '3599' });
  });
  app.post('/mpesa/c2b/v2/registerurl', (req, res) => {
    switch (state.mode) {
      case 'already':
        res.status(500).json({
          requestId: '11728-2929992-1',
          errorCode: '500.003.1001',
          errorMessage: 'Urls are already registered',
        });
        return;
      case 'fault409':
        res.status(409).json({ fault: { faultstring: 'Conflict', detail: { errorcode: 'x.y.z' } } });
        return;
      case 'invalid':
        res.status(400).json({
          requestId: '1-2-3',
          errorCode: '400.002.02',
          errorMessage: 'Bad Request - Invalid ShortCode',
        });
        return;
      case 'html502':
        res.status(502).type('text/html').send('<html>Bad gateway</html>');
        return;
      default:
        state.registrations.push(req.body);
        res.json({ OriginatorCoversationID: 'abcd-1234', ResponseCode: '0', ResponseDescription: 'Success' });
    }
  });
  const server = await new Promise<http.Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    state,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(undefined)));
    },
  };
}

function recordingStarter() {
  const started: DeliveryRef[] = [];
  let failures = 0;
  return {
    started,
    failNext(n: number) {
      failures = n;
    },
    starter: {
      start: async (ref: DeliveryRef) => {
        if (failures > 0) {
          failures--;
          throw new Error('temporal is down');
        }
        started.push(ref);
      },
    },
  };
}

let transSeq = 0;
/** A fresh M-Pesa-looking TransID. */
function transId(): string {
  transSeq++;
  return `TA1${String(Date.now()).slice(-4)}${String(transSeq).padStart(3, '0')}`.slice(0, 10);
}

/** Daraja's v2 payload (daraja.md §8.5), with overrides. */
function payload(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    TransactionType: 'Pay Bill',
    TransID: transId(),
    TransTime: '20240101153012',
    TransAmount: '250.00',
    BusinessShortCode: '600984',
    BillRefNumber: 'INV0042',
    InvoiceNumber: '',
    OrgAccountBalance: '10250.00',
    ThirdPartyTransID: '',
    MSISDN: '2547 ***** 149',
    FirstName: 'JANE',
    MiddleName: '',
    LastName: '',
    ...over,
  };
}

describe('C2B routes and hooks', () => {
  let t: TestApp;
  let daraja: Awaited<ReturnType<typeof startFakeDaraja>>;
  let secret: string;
  const lines: string[] = [];
  const rec = recordingStarter();

  before(async () => {
    daraja = await startFakeDaraja();
    t = await startTestApp({
      logger: createLogger('info', { write: (l) => void lines.push(l) }),
      overrides: { webhookResolver: resolver, deliveryStarter: rec.starter },
    });
    secret = callbackSecretOf(t.config, t.secretBox);
  });
  after(async () => {
    await t?.close();
    await daraja?.close();
  });

  /** A merchant with a paybill channel behind the fake Daraja. */
  async function shop(input: Record<string, unknown> = {}) {
    const m = await t.merchant('C2B shop');
    const ch = await t.channel(m.id, { shortcode: '600984', baseUrl: daraja.url, ...input });
    return { m, ch };
  }

  const hook = (channelId: string, kind: 'validation' | 'confirmation', body: unknown) =>
    t.request('POST', c2bHookPath(secret, channelId, kind), { body });

  const paymentsOf = (merchantId: string) =>
    t.db.selectFrom('payments').selectAll().where('merchant_id', '=', merchantId).execute();
  const eventsOf = (merchantId: string) =>
    t.db.selectFrom('events').selectAll().where('merchant_id', '=', merchantId).execute();

  describe('POST /v1/channels/:id/c2b/register', () => {
    it('registers both URLs with Daraja and stores the settings, with an audit row', async () => {
      const { m, ch } = await shop();
      const before = daraja.state.registrations.length;
      const r = await t.request('POST', `/v1/channels/${ch.id}/c2b/register`, { key: m.key, body: {} });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(
        { ...r.body, registeredAt: undefined },
        {
          object: 'c2b_settings',
          channelId: ch.id,
          shortcode: '600984',
          registered: true,
          registeredAt: undefined,
          responseType: 'Completed',
          validation: 'accept_all',
        },
      );
      assert.ok(Date.now() - Date.parse(r.body.registeredAt) < 60_000);

      assert.equal(daraja.state.registrations.length, before + 1);
      const sent = daraja.state.registrations.at(-1);
      assert.equal(sent.ShortCode, '600984');
      assert.equal(sent.ResponseType, 'Completed');
      const token = c2bToken(secret, ch.id);
      assert.match(token, /^[0-9a-f]{48}$/);
      const base = `${t.config.publicUrl}/hooks/daraja/c2b/${channelSegment(ch.id)}/${token}`;
      assert.equal(sent.ConfirmationURL, `${base}/confirmation`);
      assert.equal(sent.ValidationURL, `${base}/validation`);
      assert.ok(!r.text.includes(token), 'the token is never shown');

      const row = await t.db
        .selectFrom('channels')
        .selectAll()
        .where('id', '=', ch.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.c2b_response_type, 'Completed');
      assert.ok(row.c2b_registered_at);
      const audit = await t.db.selectFrom('audit_log').selectAll().where('target_id', '=', ch.id).execute();
      const entry = audit.find((a) => a.action === 'channel.c2b_register');
      assert.ok(entry, JSON.stringify(audit));
      assert.equal(entry.actor, m.keyId);
      assert.ok(!JSON.stringify(entry.details).includes(token));

      const got = await t.request('GET', `/v1/channels/${ch.id}/c2b`, { key: m.key });
      assert.equal(got.status, 200);
      assert.deepEqual(got.body, r.body);
    });

    it('takes responseType and validation, and registers a till’s till number', async () => {
      const { m, ch } = await shop({ type: 'till', shortcode: '600100', tillNumber: '600111' });
      const r = await t.request('POST', `/v1/channels/${ch.id}/c2b/register`, {
        key: m.key,
        body: { responseType: 'Cancelled', validation: 'open_links' },
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.shortcode, '600111');
      assert.equal(r.body.responseType, 'Cancelled');
      assert.equal(r.body.validation, 'open_links');
      const sent = daraja.state.registrations.at(-1);
      assert.equal(sent.ShortCode, '600111');
      assert.equal(sent.ResponseType, 'Cancelled');
    });

    it('answers 409 when Daraja already has URLs, and stores nothing', async () => {
      const { m, ch } = await shop();
      daraja.state.mode = 'already';
      try {
        const r = await t.request('POST', `/v1/channels/${ch.id}/c2b/register`, { key: m.key, body: {} });
        const b = expectEnvelope(r, 409, 'CONFLICT');
        assert.match(b.message, /already has C2B URLs registered for shortcode 600984/);
        assert.deepEqual(b.error.details, [
          { path: 'daraja', message: '500.003.1001 Urls are already registered', code: 'already_registered' },
        ]);
      } finally {
        daraja.state.mode = 'ok';
      }
      const got = await t.request('GET', `/v1/channels/${ch.id}/c2b`, { key: m.key });
      assert.equal(got.body.registered, false);
      assert.equal(got.body.responseType, null);
    });

    it('maps Daraja’s other refusals: Apigee 409 fault, invalid field, bad credentials, a gateway page', async () => {
      const { m, ch } = await shop();
      const register = () =>
        t.request('POST', `/v1/channels/${ch.id}/c2b/register`, { key: m.key, body: {} });
      try {
        daraja.state.mode = 'fault409';
        assert.match(expectEnvelope(await register(), 409, 'CONFLICT').message, /refused to register/);
        daraja.state.mode = 'invalid';
        assert.match(expectEnvelope(await register(), 400, 'VALIDATION_ERROR').message, /Invalid ShortCode/);
        daraja.state.mode = 'badtoken';
        assert.match(expectEnvelope(await register(), 502, 'UPSTREAM_ERROR').message, /consumer key/);
        daraja.state.mode = 'html502';
        assert.match(expectEnvelope(await register(), 502, 'UPSTREAM_ERROR').message, /no usable answer/);
      } finally {
        daraja.state.mode = 'ok';
      }
      const unreachable = await t.channel(m.id, { shortcode: '600985', baseUrl: 'http://127.0.0.1:9' });
      const r = await t.request('POST', `/v1/channels/${unreachable.id}/c2b/register`, {
        key: m.key,
        body: {},
      });
      assert.match(expectEnvelope(r, 502, 'UPSTREAM_ERROR').message, /could not be reached/);
    });

    it('against the simulator: 600984 registers, the STK-only 174379 answers 409 naming it', async () => {
      const sim = await startSim();
      try {
        const m = await t.merchant('Sim shop');
        const sandboxApp = {
          baseUrl: sim.url,
          consumerKey: DEFAULT_APP.consumerKey,
          consumerSecret: DEFAULT_APP.consumerSecret,
        };
        const good = await t.channel(m.id, { ...sandboxApp, shortcode: '600984' });
        const ok = await t.request('POST', `/v1/channels/${good.id}/c2b/register`, { key: m.key, body: {} });
        assert.equal(ok.status, 200, ok.text);
        const reg = sim.sandbox.state.c2bRegistrationFor('600984');
        assert.equal(
          reg?.confirmationUrl,
          `${t.config.publicUrl}${c2bHookPath(secret, good.id, 'confirmation')}`,
        );

        const stkOnly = await t.channel(m.id, { ...sandboxApp, shortcode: '174379' });
        const no = await t.request('POST', `/v1/channels/${stkOnly.id}/c2b/register`, {
          key: m.key,
          body: {},
        });
        assert.match(expectEnvelope(no, 409, 'CONFLICT').message, /174379 is the STK-only sandbox shortcode/);
      } finally {
        await sim.close();
      }
    });

    it('refuses unknown fields, a disabled channel, another merchant’s channel and a live key', async () => {
      const { m, ch } = await shop();
      expectEnvelope(
        await t.request('POST', `/v1/channels/${ch.id}/c2b/register`, {
          key: m.key,
          body: { responseType: 'Done' },
        }),
        400,
        'VALIDATION_ERROR',
      );
      expectEnvelope(
        await t.request('POST', `/v1/channels/${ch.id}/c2b/register`, {
          key: m.key,
          body: { shortcode: '1' },
        }),
        400,
        'VALIDATION_ERROR',
      );
      const other = await t.merchant('Other');
      expectEnvelope(
        await t.request('POST', `/v1/channels/${ch.id}/c2b/register`, { key: other.key, body: {} }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      const live = await t.key(m.id, ['*'], { env: 'live' });
      expectEnvelope(
        await t.request('POST', `/v1/channels/${ch.id}/c2b/register`, { key: live.key, body: {} }),
        403,
        'FORBIDDEN',
      );
      await t.db.updateTable('channels').set({ status: 'disabled' }).where('id', '=', ch.id).execute();
      expectEnvelope(
        await t.request('POST', `/v1/channels/${ch.id}/c2b/register`, { key: m.key, body: {} }),
        409,
        'CONFLICT',
      );
    });

    it('refuses a public URL with a word Daraja forbids before calling Daraja', async () => {
      const bad = await startTestApp({ env: { MALIPO_PUBLIC_URL: 'https://pay.mpesa-shop.example' } });
      try {
        const m = await bad.merchant('Forbidden');
        const ch = await bad.channel(m.id, { shortcode: '600984', baseUrl: daraja.url });
        const calls = daraja.state.registrations.length;
        const r = await bad.request('POST', `/v1/channels/${ch.id}/c2b/register`, { key: m.key, body: {} });
        const b = expectEnvelope(r, 400, 'VALIDATION_ERROR');
        assert.match(JSON.stringify(b.error.details), /confirmationUrl/);
        assert.equal(daraja.state.registrations.length, calls, 'Daraja was not called');
      } finally {
        await bad.close();
      }
    });

    it('is secured (channels:write)', async () => {
      const { m, ch } = await shop();
      await expectSecured(t, m.id, {
        method: 'POST',
        path: `/v1/channels/${ch.id}/c2b/register`,
        body: {},
        scope: 'channels:write',
      });
    });
  });

  describe('GET and PATCH /v1/channels/:id/c2b', () => {
    it('changes the validation rule without calling Daraja, with an audit row', async () => {
      const { m, ch } = await shop();
      const calls = daraja.state.registrations.length;
      const r = await t.request('PATCH', `/v1/channels/${ch.id}/c2b`, {
        key: m.key,
        body: { validation: 'open_links' },
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.validation, 'open_links');
      assert.equal(r.body.registered, false);
      assert.equal(daraja.state.registrations.length, calls);
      const got = await t.request('GET', `/v1/channels/${ch.id}/c2b`, { key: m.key });
      assert.equal(got.body.validation, 'open_links');
      const audit = await t.db
        .selectFrom('audit_log')
        .selectAll()
        .where('target_id', '=', ch.id)
        .where('action', '=', 'channel.c2b_update')
        .execute();
      assert.equal(audit.length, 1);
      expectEnvelope(
        await t.request('PATCH', `/v1/channels/${ch.id}/c2b`, { key: m.key, body: { validation: 'nope' } }),
        400,
        'VALIDATION_ERROR',
      );
      expectEnvelope(
        await t.request('PATCH', `/v1/channels/${ch.id}/c2b`, { key: m.key, body: {} }),
        400,
        'VALIDATION_ERROR',
      );
    });

    it('hides another merchant’s channel and is secured', async () => {
      const { m, ch } = await shop();
      const other = await t.merchant('Other');
      expectEnvelope(
        await t.request('GET', `/v1/channels/${ch.id}/c2b`, { key: other.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expectEnvelope(
        await t.request('PATCH', `/v1/channels/${ch.id}/c2b`, {
          key: other.key,
          body: { validation: 'accept_all' },
        }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      await expectSecured(t, m.id, {
        method: 'GET',
        path: `/v1/channels/${ch.id}/c2b`,
        scope: 'channels:read',
      });
      await expectSecured(t, m.id, {
        method: 'PATCH',
        path: `/v1/channels/${ch.id}/c2b`,
        body: { validation: 'accept_all' },
        scope: 'channels:write',
      });
    });
  });

  describe('the hooks’ token', () => {
    it('answers 404 in the envelope for a wrong token, segment or another channel’s token, and logs it', async () => {
      const { ch } = await shop();
      const { ch: other } = await shop();
      const good = c2bToken(secret, ch.id);
      const wrong = [
        `/hooks/daraja/c2b/${ch.id}/${'0'.repeat(48)}/confirmation`,
        `/hooks/daraja/c2b/${ch.id}/${good.slice(0, 47)}/confirmation`,
        `/hooks/daraja/c2b/${ch.id}/${c2bToken(secret, other.id)}/confirmation`,
        `/hooks/daraja/c2b/not-a-channel/${good}/validation`,
        `/hooks/daraja/c2b/${ch.id}/${good.toUpperCase()}/validation`,
      ];
      const logged = lines.length;
      for (const path of wrong) {
        const r = await t.request('POST', path, { body: payload() });
        const b = expectEnvelope(r, 404, 'RESOURCE_NOT_FOUND');
        assert.ok(!b.message.includes(good), 'the message does not echo a token');
      }
      const warnings = lines.slice(logged).filter((l) => l.includes('wrong channel or token'));
      assert.equal(warnings.length, wrong.length);
      assert.equal((await paymentsOf(ch.merchantId)).length, 0);
    });

    it('accepts the hex form of a channel id that contains a word Daraja forbids', () => {
      const id = 'ch_abcSQLdef0123456789xyz';
      assert.match(channelSegment(id), /^h[0-9a-f]+$/);
      assert.doesNotMatch(
        c2bHookPath(secret, id, 'confirmation'),
        /m-?pesa|safaricom|exe|exec|cmd|sql|query/i,
      );
    });
  });

  describe('validation', () => {
    it('accept_all accepts anything and records nothing', async () => {
      const { ch } = await shop();
      const r = await hook(ch.id, 'validation', payload({ BillRefNumber: 'whatever', TransAmount: '7.00' }));
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.body, { ResultCode: '0', ResultDesc: 'Accepted' });
      const garbage = await hook(ch.id, 'validation', { hello: 'world' });
      assert.deepEqual(garbage.body, { ResultCode: '0', ResultDesc: 'Accepted' });
      assert.equal((await paymentsOf(ch.merchantId)).length, 0);
      assert.equal((await eventsOf(ch.merchantId)).length, 0);
    });

    it('open_links accepts only an open link’s reference with an amount it admits', async () => {
      const { m, ch } = await shop();
      await t.request('PATCH', `/v1/channels/${ch.id}/c2b`, {
        key: m.key,
        body: { validation: 'open_links' },
      });
      const link = async (body: Record<string, unknown>) => {
        const r = await t.request('POST', '/v1/payment-links', {
          key: m.key,
          body: { title: 'Invoice', ...body },
        });
        assert.equal(r.status, 201, r.text);
        return r.body;
      };
      await link({ reference: 'INV-7', amount: 100 });
      await link({ reference: 'RANGE', amount: { min: 50, max: 500 } });
      const off = await link({ reference: 'OFF', amount: 100 });
      await t.request('POST', `/v1/payment-links/${off.id}/disable`, { key: m.key });
      const old = await link({ reference: 'OLD', amount: 100 });
      await t.db
        .updateTable('payment_links')
        .set({ expires_at: new Date(Date.now() - 1000) })
        .where('id', '=', old.id)
        .execute();
      const elsewhere = await t.channel(m.id, { shortcode: '600986', baseUrl: daraja.url });
      await link({ reference: 'PINNED', amount: 100, channelId: elsewhere.id });
      await link({ reference: 'HERE', amount: 100, channelId: ch.id });
      const otherShop = await shop();
      await t.request('POST', '/v1/payment-links', {
        key: otherShop.m.key,
        body: { title: 'Theirs', reference: 'THEIRS', amount: 100 },
      });

      const decide = async (billRef: unknown, amount: string) =>
        (await hook(ch.id, 'validation', payload({ BillRefNumber: billRef, TransAmount: amount }))).body;
      const ACCEPT = { ResultCode: '0', ResultDesc: 'Accepted' };
      const ACCOUNT = { ResultCode: 'C2B00012', ResultDesc: 'Rejected' };
      const AMOUNT = { ResultCode: 'C2B00013', ResultDesc: 'Rejected' };
      assert.deepEqual(await decide('INV-7', '100.00'), ACCEPT);
      assert.deepEqual(await decide(' inv-7 ', '100.00'), ACCEPT, 'trimmed, any case');
      assert.deepEqual(await decide('INV-7', '99.00'), AMOUNT);
      assert.deepEqual(await decide('INV-7', '100.50'), AMOUNT);
      assert.deepEqual(await decide('range', '250.00'), ACCEPT);
      assert.deepEqual(await decide('RANGE', '501.00'), AMOUNT);
      assert.deepEqual(await decide('RANGE', '49.00'), AMOUNT);
      assert.deepEqual(await decide('NOPE', '100.00'), ACCOUNT);
      assert.deepEqual(await decide('', '100.00'), ACCOUNT);
      assert.deepEqual(await decide(null, '100.00'), ACCOUNT);
      assert.deepEqual(await decide('OFF', '100.00'), ACCOUNT, 'a disabled link');
      assert.deepEqual(await decide('OLD', '100.00'), ACCOUNT, 'an expired link');
      assert.deepEqual(await decide('THEIRS', '100.00'), ACCOUNT, 'another merchant’s link');
      assert.deepEqual(await decide('PINNED', '100.00'), ACCOUNT, 'a link pinned to another channel');
      assert.deepEqual(await decide('HERE', '100.00'), ACCEPT, 'a link pinned to this channel');
      const unreadable = await hook(ch.id, 'validation', { TransAmount: 'lots' });
      assert.deepEqual(unreadable.body, { ResultCode: 'C2B00016', ResultDesc: 'Rejected' });
      assert.equal((await paymentsOf(m.id)).length, 0, 'validation records nothing');
    });

    it('a link that reached maxPayments no longer validates', async () => {
      const { m, ch } = await shop();
      await t.request('PATCH', `/v1/channels/${ch.id}/c2b`, {
        key: m.key,
        body: { validation: 'open_links' },
      });
      const r = await t.request('POST', '/v1/payment-links', {
        key: m.key,
        body: { title: 'Once', reference: 'ONCE', amount: 100, maxPayments: 1 },
      });
      assert.equal(r.status, 201, r.text);
      const v = () => hook(ch.id, 'validation', payload({ BillRefNumber: 'ONCE', TransAmount: '100.00' }));
      assert.equal((await v()).body.ResultCode, '0');
      const c = await hook(ch.id, 'confirmation', payload({ BillRefNumber: 'ONCE', TransAmount: '100.00' }));
      assert.equal(c.status, 200, c.text);
      assert.equal((await v()).body.ResultCode, 'C2B00012');
    });
  });

  describe('confirmation', () => {
    it('records the payment once with one payment.c2b event, plans its webhooks, and lists it as c2b', async () => {
      const { m, ch } = await shop();
      const all = await t.request('POST', '/v1/webhook-endpoints', {
        key: m.key,
        body: { url: 'https://hooks.example.com/all', events: ['*'] },
      });
      const c2b = await t.request('POST', '/v1/webhook-endpoints', {
        key: m.key,
        body: { url: 'https://hooks.example.com/c2b', events: ['payment.c2b'] },
      });
      const stkOnly = await t.request('POST', '/v1/webhook-endpoints', {
        key: m.key,
        body: { url: 'https://hooks.example.com/stk', events: ['payment.success'] },
      });
      for (const ep of [all, c2b, stkOnly]) assert.equal(ep.status, 201, ep.text);

      const body = payload({ FirstName: 'JANE', MiddleName: 'W', LastName: 'DOE', InvoiceNumber: 'X1' });
      const startedBefore = rec.started.length;
      const r = await hook(ch.id, 'confirmation', body);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text, '{"ResultCode":0,"ResultDesc":"Success"}');

      const rows = await paymentsOf(m.id);
      assert.equal(rows.length, 1);
      const list = await t.request('GET', '/v1/payments?kind=c2b', { key: m.key });
      assert.equal(list.status, 200, list.text);
      assert.equal(list.body.data.length, 1);
      const p = list.body.data[0];
      assert.equal((await t.request('GET', '/v1/payments?kind=stk', { key: m.key })).body.data.length, 0);
      const one = await t.request('GET', `/v1/payments/${p.id}`, { key: m.key });
      assert.deepEqual(one.body, p);
      assert.equal(p.kind, 'c2b');
      assert.equal(p.status, 'success');
      assert.equal(p.amount, 250);
      assert.equal(p.phone, '2547 ***** 149');
      assert.equal(p.reference, 'INV0042');
      assert.equal(p.description, 'Pay Bill');
      assert.equal(p.mpesaReceipt, body.TransID);
      assert.equal(p.transactionDate, '20240101153012');
      assert.equal(p.channelId, ch.id);
      assert.equal(p.environment, 'test');
      assert.equal(p.callbackUrl, null);
      assert.equal(p.linkId, null);
      assert.ok(p.settledAt);
      assert.deepEqual(p.metadata, {
        firstName: 'JANE',
        middleName: 'W',
        lastName: 'DOE',
        billRefNumber: 'INV0042',
        invoiceNumber: 'X1',
        orgAccountBalance: '10250.00',
        thirdPartyTransId: '',
        transactionType: 'Pay Bill',
        businessShortCode: '600984',
        transAmount: 250,
      });

      const events = await eventsOf(m.id);
      assert.equal(events.length, 1);
      const event = events[0]!;
      assert.equal(event.type, 'payment.c2b');
      assert.equal(event.payment_id, p.id);
      assert.equal(event.payment_version, 1);
      const eventBody = JSON.parse(event.body);
      assert.deepEqual(Object.keys(eventBody), ['id', 'type', 'created', 'data']);
      assert.equal(eventBody.id, event.id);
      assert.deepEqual(eventBody.data, p, 'the event carries the payment as the API shows it');
      const shown = await t.request('GET', `/v1/events?type=payment.c2b&paymentId=${p.id}`, { key: m.key });
      assert.equal(shown.body.data.length, 1);

      const started = rec.started.slice(startedBefore);
      assert.equal(started.length, 2, 'the * and payment.c2b endpoints, not the payment.success one');
      assert.ok(started.every((s) => s.eventId === event.id));
      const deliveries = await t.db
        .selectFrom('webhook_deliveries')
        .selectAll()
        .where('event_id', '=', event.id)
        .execute();
      assert.deepEqual(deliveries.map((d) => d.target_id).sort(), [all.body.id, c2b.body.id].sort());

      // Daraja sends it again: nothing new, still "Success"; re-dispatching plans no new delivery
      const again = await hook(ch.id, 'confirmation', {
        ...body,
        FirstName: 'CHANGED',
        TransAmount: '999.00',
      });
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, { ResultCode: 0, ResultDesc: 'Success' });
      const after = await paymentsOf(m.id);
      assert.equal(after.length, 1);
      assert.equal(after[0]!.amount, 250, 'the first confirmation stands');
      assert.equal((await eventsOf(m.id)).length, 1);
      const deliveriesAfter = await t.db
        .selectFrom('webhook_deliveries')
        .select('id')
        .where('event_id', '=', event.id)
        .execute();
      assert.equal(deliveriesAfter.length, 2);
    });

    it('records concurrent repeats of one TransID once', async () => {
      const { m, ch } = await shop();
      const body = payload();
      const answers = await Promise.all(Array.from({ length: 6 }, () => hook(ch.id, 'confirmation', body)));
      for (const a of answers) assert.deepEqual(a.body, { ResultCode: 0, ResultDesc: 'Success' }, a.text);
      assert.equal((await paymentsOf(m.id)).length, 1);
      assert.equal((await eventsOf(m.id)).length, 1);
    });

    it('ties the payment to the link its account number names', async () => {
      const { m, ch } = await shop();
      const l = await t.request('POST', '/v1/payment-links', {
        key: m.key,
        body: { title: 'Rent', reference: 'RENT-12', amount: { min: 100, max: 1000 } },
      });
      const r = await hook(
        ch.id,
        'confirmation',
        payload({ BillRefNumber: 'rent-12', TransAmount: '500.00' }),
      );
      assert.equal(r.status, 200, r.text);
      const [row] = await paymentsOf(m.id);
      assert.equal(row?.link_id, l.body.id);
      const link = await t.request('GET', `/v1/payment-links/${l.body.id}`, { key: m.key });
      assert.equal(link.body.stats.successfulPayments, 1);
      assert.equal(link.body.stats.amountCollected, 500);
    });

    it('records a non-whole amount rounded down, with the exact amount in metadata', async () => {
      const { m, ch } = await shop();
      const r = await hook(ch.id, 'confirmation', payload({ TransAmount: '250.75' }));
      assert.equal(r.status, 200, r.text);
      const list = await t.request('GET', '/v1/payments', { key: m.key });
      assert.equal(list.body.data[0].amount, 250);
      assert.equal(list.body.data[0].metadata.transAmount, 250.75);
    });

    it('keeps what cannot be a payment in the callback inbox and acknowledges it', async () => {
      const { m, ch } = await shop();
      const inbox = () =>
        t.db.selectFrom('callback_inbox').selectAll().where('payment_id', '=', ch.id).orderBy('id').execute();
      const cases: unknown[] = [
        { hello: 'world' },
        payload({ TransAmount: '0.50' }),
        payload({ TransID: '' }),
        [],
      ];
      for (const body of cases) {
        const r = await hook(ch.id, 'confirmation', body);
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.body, { ResultCode: 0, ResultDesc: 'Success' });
      }
      const kept = await inbox();
      assert.equal(kept.length, cases.length);
      assert.ok(kept.every((k) => k.kind === 'c2b_confirmation'));
      assert.deepEqual(kept[0]!.body, { hello: 'world' });
      assert.equal((await paymentsOf(m.id)).length, 0);

      const malformed = await t.request('POST', c2bHookPath(secret, ch.id, 'confirmation'), {
        raw: '{"TransID":',
      });
      expectEnvelope(malformed, 400, 'MALFORMED_JSON');
    });

    it('stores a NUL-bearing notification with U+FFFD', async () => {
      const { m, ch } = await shop();
      const r = await hook(
        ch.id,
        'confirmation',
        payload({ FirstName: 'JA\u0000NE', BillRefNumber: 'A\u0000B' }),
      );
      assert.equal(r.status, 200, r.text);
      const [row] = await paymentsOf(m.id);
      assert.ok(row);
      assert.equal(row.reference, 'A\uFFFDB');
      assert.equal((row.metadata as Json).firstName, 'JA\uFFFDNE');
    });

    it('answers 503 while webhooks cannot be started, and a repeat starts them', async () => {
      const { m, ch } = await shop();
      const ep = await t.request('POST', '/v1/webhook-endpoints', {
        key: m.key,
        body: { url: 'https://hooks.example.com/x', events: ['payment.c2b'] },
      });
      assert.equal(ep.status, 201);
      const body = payload();
      rec.failNext(1);
      const first = await hook(ch.id, 'confirmation', body);
      expectEnvelope(first, 503, 'SERVICE_UNAVAILABLE');
      assert.equal((await paymentsOf(m.id)).length, 1, 'stored before the webhooks');
      const before = rec.started.length;
      const second = await hook(ch.id, 'confirmation', body);
      assert.equal(second.status, 200, second.text);
      assert.equal(rec.started.length, before + 1);
      assert.equal((await eventsOf(m.id)).length, 1);
    });
  });

  describe('with the database down', () => {
    it('confirmation answers 5xx (Daraja retries); validation answers 503 (ResponseType applies)', async () => {
      const handle = await openDatabase({});
      const down = await startTestApp({ db: handle, overrides: { deliveryStarter: rec.starter } });
      try {
        const m = await down.merchant('Down shop');
        const ch = await down.channel(m.id, { ...CHANNEL_DEFAULTS, shortcode: '600984' });
        const downSecret = callbackSecretOf(down.config, down.secretBox);
        await handle.close();
        const c = await down.request('POST', c2bHookPath(downSecret, ch.id, 'confirmation'), {
          body: payload(),
        });
        assert.ok(c.status >= 500, `${c.status} ${c.text}`);
        assert.notEqual(c.body?.ResultCode, 0);
        const v = await down.request('POST', c2bHookPath(downSecret, ch.id, 'validation'), {
          body: payload(),
        });
        expectEnvelope(v, 503, 'SERVICE_UNAVAILABLE');
      } finally {
        await down.close();
      }
    });
  });
});
