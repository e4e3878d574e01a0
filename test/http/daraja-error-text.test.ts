/**
 * What an API caller or a merchant-visible row may learn of a failed Daraja call: Daraja's own
 * errorCode/errorMessage (and requestId), never a connect error, stack text or the body of a host that
 * is not Daraja. Every path where an upstream error's words travel on is tried against a fake upstream
 * that answers HTML pages and against a port that refuses connections: the QR code and C2B register
 * routes (HTTP answers), and the STK push, payout and lookup activities (their results become the
 * payment, payout and lookup rows and messages).
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import express from 'express';
import { createLookupActivities } from '../../activities/lookups';
import { createPayoutActivities } from '../../activities/payouts';
import { createStkActivities } from '../../activities/stk';
import { DarajaClient, TokenCache } from '../../src/daraja/client';
import { DarajaError } from '../../src/daraja/errors';
import { DEFAULT_APP } from '../../src/sandbox';
import { createLogger } from '../../src/logger';
import { DEVELOPMENT_CHANNEL_POLICY } from '../../src/platform/channels';
import { expectEnvelope, startTestApp, type TestApp, type TestMerchant } from '../helpers/http';

/** Text an internal page would show; none of it may travel on. */
const MARKER = 'INTERNAL-ADMIN-PAGE-7f3a';
const HTML = `<!doctype html><html><head><title>Admin</title></head><body><h1>${MARKER}</h1><pre>Error: boom\n    at Object.<anonymous> (/srv/admin/app.js:12:7)</pre></body></html>`;

function runActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment().run(fn, ...args) as Promise<R>;
}

/** The outcome as text: a returned result, or the thrown failure's message. */
async function outcomeText(p: Promise<unknown>): Promise<string> {
  try {
    return JSON.stringify(await p);
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`;
  }
}

describe('Daraja error text reflected to callers', () => {
  let upstream: Server;
  /** OAuth answers a token, every API path an HTML 400 page. */
  let htmlApiUrl: string;
  /** OAuth itself answers an HTML 401 page. */
  let htmlOauthUrl: string;
  /** Nothing listens there. */
  let refusedUrl: string;
  let refusedPort: number;
  let t: TestApp;
  let m: TestMerchant;
  const channels: Record<'htmlApi' | 'htmlOauth' | 'refused', string> = {
    htmlApi: '',
    htmlOauth: '',
    refused: '',
  };

  const assertClean = (text: string, where: string) => {
    for (const bad of [
      MARKER,
      '<html',
      '<!doctype',
      'app.js',
      'ECONNREFUSED',
      `:${refusedPort}`,
      'connect ',
    ]) {
      assert.ok(!text.toLowerCase().includes(bad.toLowerCase()), `${where} shows "${bad}": ${text}`);
    }
  };

  before(async () => {
    const app = express();
    app.get('/api/oauth/v1/generate', (_req, res) => {
      res.json({ access_token: 'tok-html-api', expires_in: '3599' });
    });
    app.use('/api', (_req, res) => {
      res.status(400).type('html').send(HTML);
    });
    app.use('/oauth-broken', (_req, res) => {
      res.status(401).type('html').send(HTML);
    });
    upstream = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    htmlApiUrl = `${base}/api`;
    htmlOauthUrl = `${base}/oauth-broken`;
    const closed = await new Promise<Server>((resolve) => {
      const s = express().listen(0, '127.0.0.1', () => resolve(s));
    });
    refusedPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    refusedUrl = `http://127.0.0.1:${refusedPort}`;

    t = await startTestApp();
    m = await t.merchant('Shop');
    const make = async (baseUrl: string) =>
      (
        await t.channel(m.id, {
          baseUrl,
          shortcode: '600984',
          isDefault: false,
          initiatorName: DEFAULT_APP.initiatorName ?? 'testapi',
          initiatorPassword: DEFAULT_APP.initiatorPassword ?? 'Safaricom999!*!',
        })
      ).id;
    channels.htmlApi = await make(htmlApiUrl);
    channels.htmlOauth = await make(htmlOauthUrl);
    channels.refused = await make(refusedUrl);
  });
  after(async () => {
    await t?.close();
    upstream?.closeAllConnections();
    await new Promise((r) => upstream?.close(r));
  });

  describe('the client', () => {
    it('keeps HTML bodies and connect errors out of DarajaError.message, in rawBody and detail', async () => {
      const client = (baseUrl: string) =>
        new DarajaClient({ baseUrl, consumerKey: 'k', consumerSecret: 's', timeoutMs: 3000 });
      const call = async (baseUrl: string): Promise<DarajaError> => {
        try {
          await client(baseUrl).accountBalance({
            initiatorName: 'testapi',
            securityCredential: 'x',
            shortcode: '600984',
            identifierType: 'shortcode',
            resultUrl: 'https://example.com/r',
            queueTimeoutUrl: 'https://example.com/r',
            remarks: 'balance',
          });
        } catch (err) {
          assert.ok(err instanceof DarajaError, String(err));
          return err;
        }
        assert.fail('expected a DarajaError');
      };
      const api = await call(htmlApiUrl);
      assertClean(api.message, 'HTML from the API');
      assert.equal(api.httpStatus, 400);
      assert.match(api.rawBody ?? '', new RegExp(MARKER), 'the raw body is kept for logs');
      const oauth = await call(htmlOauthUrl);
      assertClean(oauth.message, 'HTML from OAuth');
      assert.equal(oauth.httpStatus, 401);
      const refused = await call(refusedUrl);
      assertClean(refused.message, 'a refused connection');
      assert.equal(refused.kind, 'not_sent');
      assert.match(refused.detail ?? '', /ECONNREFUSED/, 'the connect error is kept for logs');
    });

    it('still shows Daraja’s own errorCode, errorMessage and requestId', async () => {
      const app = express();
      app.get('/oauth/v1/generate', (_req, res) => {
        res.status(400).json({
          requestId: '4187-21954603-1',
          errorCode: '400.008.01',
          errorMessage: 'Invalid Authentication passed',
        });
      });
      const s = await new Promise<Server>((resolve) => {
        const x = app.listen(0, '127.0.0.1', () => resolve(x));
      });
      try {
        const c = new DarajaClient({
          baseUrl: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
          consumerKey: 'k',
          consumerSecret: 's',
        });
        const e = await c.getToken().then(
          () => assert.fail('expected a rejection'),
          (err: unknown) => err as DarajaError,
        );
        assert.match(e.message, /400\.008\.01 Invalid Authentication passed/);
        assert.equal(e.requestId, '4187-21954603-1');
      } finally {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    });
  });

  it('bounds Daraja’s own fields to one printable line', async () => {
    const app = express();
    const long = `Bad Request\r\n\u0007${'x'.repeat(5000)}`;
    app.get('/oauth/v1/generate', (_req, res) => {
      res.status(400).json({ requestId: 'r\n1', errorCode: '400.002.02', errorMessage: long });
    });
    const s = await new Promise<Server>((resolve) => {
      const x = app.listen(0, '127.0.0.1', () => resolve(x));
    });
    try {
      const c = new DarajaClient({
        baseUrl: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
        consumerKey: 'k',
        consumerSecret: 's',
      });
      const e = await c.getToken().then(
        () => assert.fail('expected a rejection'),
        (err: unknown) => err as DarajaError,
      );
      const hasControl = (text: string) => [...text].some((ch) => ch.charCodeAt(0) < 0x20);
      for (const text of [e.message, e.errorMessage ?? '', e.requestId ?? ''])
        assert.ok(!hasControl(text), text);
      assert.ok((e.errorMessage ?? '').length <= 301, `${e.errorMessage?.length}`);
      assert.match(e.errorMessage ?? '', /^Bad Request x+…$/);
    } finally {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  describe('HTTP answers', () => {
    for (const which of ['htmlApi', 'htmlOauth', 'refused'] as const) {
      it(`POST /v1/qr (${which}): 502 without the upstream's words`, async () => {
        const r = await t.request('POST', '/v1/qr', {
          key: m.key,
          body: { amount: 10, reference: 'INV1', channelId: channels[which] },
        });
        expectEnvelope(r, 502, 'UPSTREAM_ERROR');
        assertClean(r.text, 'the QR answer');
      });

      it(`POST /v1/channels/:id/c2b/register (${which}): 502 without the upstream's words`, async () => {
        const r = await t.request('POST', `/v1/channels/${channels[which]}/c2b/register`, {
          key: m.key,
          body: {},
        });
        expectEnvelope(r, 502, 'UPSTREAM_ERROR');
        assertClean(r.text, 'the C2B register answer');
      });
    }
  });

  describe('activity results (payment, payout and lookup rows)', () => {
    const deps = () => ({
      db: t.db,
      box: t.secretBox,
      logger: createLogger('silent'),
      publicUrl: 'https://malipo.example.com',
      callbackSecret: 'callback-secret-for-tests-0123456789',
      tokenCache: new TokenCache(),
      darajaTimeoutMs: 3000,
      channelPolicy: DEVELOPMENT_CHANNEL_POLICY,
    });
    let n = 0;

    for (const which of ['htmlApi', 'htmlOauth', 'refused'] as const) {
      it(`initiateStkPush (${which})`, async () => {
        const stk = createStkActivities(deps());
        const text = await outcomeText(
          runActivity(stk.initiateStkPush, {
            paymentId: `pay_errtext${++n}`,
            merchantId: m.id,
            channelId: channels[which],
            environment: 'test',
            amount: 10,
            phone: '254708374149',
            reference: 'INV1',
            description: 'Order',
            pushNumber: 1,
          }),
        );
        assertClean(text, 'the STK push outcome');
      });

      it(`initiateB2cPayout (${which})`, async () => {
        const payouts = createPayoutActivities(deps());
        const text = await outcomeText(
          runActivity(payouts.initiateB2cPayout, {
            payoutId: `po_errtext${++n}`,
            channelId: channels[which],
            environment: 'test',
            amount: 10,
            phone: '254708374149',
            commandId: 'BusinessPayment',
            remarks: 'Payout',
            occasion: undefined,
          } as Parameters<typeof payouts.initiateB2cPayout>[0]),
        );
        assertClean(text, 'the payout outcome');
      });

      it(`startLookup (${which})`, async () => {
        const lookups = createLookupActivities(deps());
        const text = await outcomeText(
          runActivity(lookups.startLookup, {
            lookupId: `lk_errtext${++n}`,
            merchantId: m.id,
            kind: 'account_balance',
            channelId: channels[which],
            environment: 'test',
          }),
        );
        assertClean(text, 'the lookup outcome');
      });
    }
  });
});
