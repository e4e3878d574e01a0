import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { DarajaClient, TokenCache } from '../../src/daraja/client';
import { DarajaError, errorFromResponse, readErrorBody } from '../../src/daraja/errors';
import { SIMULATOR_CERT_PATH, securityCredential } from '../../src/daraja/security-credential';
import { DEFAULT_APP, SANDBOX_PASSKEY, type SandboxServer } from '../../src/sandbox';
import { clientFor, type Receiver, startReceiver, startSim, waitUntil } from '../helpers/sandbox';

const push = (callbackUrl: string, phone = '254708374149', extra: object = {}) => ({
  shortcode: '174379',
  passkey: SANDBOX_PASSKEY,
  type: 'paybill' as const,
  amount: 10,
  phone,
  callbackUrl,
  accountReference: 'INV0042',
  description: 'Order 42',
  ...extra,
});

async function rejection(p: Promise<unknown>): Promise<DarajaError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DarajaError, `expected DarajaError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

describe('Daraja client against the simulator', () => {
  let sim: SandboxServer;
  let rec: Receiver;
  before(async () => {
    sim = await startSim({ callbackDelayMs: 150, promptTimeoutMs: 400 });
    rec = await startReceiver();
  });
  after(async () => {
    await sim.close();
    await rec.close();
  });

  it('gets an OAuth token and caches it', async () => {
    const c = clientFor(sim);
    const t1 = await c.getToken();
    const t2 = await c.getToken();
    assert.equal(t1, t2);
    assert.equal(t1.length, 28);
    assert.equal(sim.sandbox.state.ledger().requests.oauth, 1);
  });

  it('wrong consumer secret is a definitive rejection (400.008.01), not retryable', async () => {
    const c = clientFor(sim, { consumerSecret: 'nope' });
    const e = await rejection(c.getToken());
    assert.equal(e.kind, 'rejected');
    assert.equal(e.errorCode, '400.008.01');
    assert.equal(e.retryable, false);
  });

  it('paybill push: pending on query until the customer acts, then final; callback delivered', async () => {
    const c = clientFor(sim);
    const ack = await c.stkPush(push(`${rec.url}/cb/paybill`));
    assert.match(ack.checkoutRequestId, /^ws_CO_\d{17}708374149$/);
    assert.match(ack.merchantRequestId, /^[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\d{7}$/);
    assert.equal(ack.responseCode, '0');
    const q1 = await c.stkQuery({
      shortcode: '174379',
      passkey: SANDBOX_PASSKEY,
      checkoutRequestId: ack.checkoutRequestId,
    });
    assert.deepEqual(q1, { status: 'pending', requestId: ack.checkoutRequestId });
    await rec.waitFor((r) => r.some((x) => x.path === '/cb/paybill'));
    const q2 = await c.stkQuery({
      shortcode: '174379',
      passkey: SANDBOX_PASSKEY,
      checkoutRequestId: ack.checkoutRequestId,
    });
    assert.ok(q2.status === 'final');
    assert.equal(q2.resultCode, '0');
    assert.equal(q2.outcome.kind, 'success');
  });

  it('till push uses CustomerBuyGoodsOnline with the till as PartyB', async () => {
    const c = clientFor(sim);
    const ack = await c.stkPush(
      push(`${rec.url}/cb/till`, '254700000000', { type: 'till', tillNumber: '174380' }),
    );
    const e = sim.sandbox.state.ledger().pushes.find((p) => p.checkoutRequestId === ack.checkoutRequestId);
    assert.equal(e?.transactionType, 'CustomerBuyGoodsOnline');
    assert.equal(e?.partyB, '174380');
    await rec.waitFor((r) => r.some((x) => x.path === '/cb/till'));
    const q = await c.stkQuery({
      shortcode: '174379',
      passkey: SANDBOX_PASSKEY,
      checkoutRequestId: ack.checkoutRequestId,
    });
    assert.ok(q.status === 'final' && q.resultCode === '0');
  });

  it('a wrong passkey is "Wrong credentials" (500.001.1001), rejected, not transient', async () => {
    const c = clientFor(sim);
    const e = await rejection(c.stkPush({ ...push(`${rec.url}/cb/x`, '254700000000'), passkey: 'wrong' }));
    assert.equal(e.kind, 'rejected');
    assert.equal(e.httpStatus, 500);
    assert.equal(e.errorCode, '500.001.1001');
    assert.equal(e.errorMessage, '[MerchantValidate] - Wrong credentials');
    assert.equal(e.transient, false);
    assert.match(e.requestId ?? '', /^\d{4}-\d{8}-\d$/);
  });

  it('a second push to a phone with an open prompt is "Unable to lock subscriber", transient', async () => {
    const c = clientFor(sim);
    await c.stkPush(push(`${rec.url}/cb/lock`, '254711000001'));
    const e = await rejection(c.stkPush(push(`${rec.url}/cb/lock`, '254711000001')));
    assert.equal(e.errorCode, '500.001.1001');
    assert.match(e.errorMessage ?? '', /Unable to lock subscriber/);
    assert.equal(e.transient, true);
    assert.equal(e.retryable, true);
  });

  it('refreshes the token ~60 s before expiry (injected clock)', async () => {
    let now = Date.UTC(2024, 0, 1, 9, 0, 0);
    const c = clientFor(sim, { now: () => now });
    const before = sim.sandbox.state.ledger().requests.oauth ?? 0;
    const t1 = await c.getToken();
    now += 3599_000 - 61_000;
    assert.equal(await c.getToken(), t1, 'still fresh 61 s before expiry');
    now += 2_000;
    const t2 = await c.getToken();
    assert.notEqual(t2, t1, 'refreshed inside the 60 s margin');
    assert.equal((sim.sandbox.state.ledger().requests.oauth ?? 0) - before, 2);
  });

  it('single-flight: concurrent callers share one OAuth request', async () => {
    const cache = new TokenCache();
    const c = clientFor(sim, { tokenCache: cache });
    const before = sim.sandbox.state.ledger().requests.oauth ?? 0;
    const tokens = await Promise.all(Array.from({ length: 10 }, () => c.getToken()));
    assert.equal(new Set(tokens).size, 1);
    assert.equal((sim.sandbox.state.ledger().requests.oauth ?? 0) - before, 1);
  });

  it('on 404.001.03 Invalid Access Token: refresh once, retry once', async () => {
    const c = clientFor(sim);
    await c.getToken();
    sim.sandbox.state.expireTokens();
    const before = sim.sandbox.state.ledger().requests;
    const ack = await c.stkPush(push(`${rec.url}/cb/refresh`, '254700001032'));
    assert.equal(ack.responseCode, '0');
    const afterReq = sim.sandbox.state.ledger().requests;
    assert.equal((afterReq.oauth ?? 0) - (before.oauth ?? 0), 1);
    assert.equal((afterReq.stkpush ?? 0) - (before.stkpush ?? 0), 2);
  });

  it('a token that expires in the simulator (short TTL) is refreshed on the invalid-token answer', async () => {
    let now = Date.UTC(2024, 0, 1, 9, 0, 0);
    const short = await startSim({ tokenTtlSeconds: 1, now: () => new Date(now), expiresInAsNumber: true });
    try {
      // the client believes the token lasts longer than it does (margin 0, clock frozen)
      const c = clientFor(short, { refreshMarginMs: 0, now: () => now - 5_000 });
      await c.getToken();
      now += 2_000;
      const q = await rejection(
        c.stkQuery({ shortcode: '174379', passkey: SANDBOX_PASSKEY, checkoutRequestId: 'ws_CO_nope' }),
      );
      // refreshed and retried: the answer is about the unknown CheckoutRequestID, not the token
      assert.equal(q.errorCode, '400.002.02');
      assert.equal(q.errorMessage, 'Bad Request - Invalid CheckoutRequestID');
      assert.equal(short.sandbox.state.ledger().requests.oauth, 2);
    } finally {
      await short.close();
    }
  });

  it('ambiguous: push accepted but the answer arrives after the client timeout', async () => {
    const c = clientFor(sim, { timeoutMs: 300 });
    const e = await rejection(c.stkPush(push(`${rec.url}/cb/slow`, '254700009504')));
    assert.equal(e.kind, 'ambiguous');
    assert.equal(e.retryable, false);
    const entry = await waitUntil(() =>
      sim.sandbox.state.ledger().pushes.find((p) => p.phone === '254700009504'),
    );
    assert.equal(entry.responseDelayed, true);
  });

  it('not_sent: nothing listening', async () => {
    const c = new DarajaClient({
      baseUrl: 'http://127.0.0.1:9',
      consumerKey: 'k',
      consumerSecret: 's',
      timeoutMs: 2000,
    });
    const e = await rejection(c.stkPush(push('https://x.example/cb')));
    assert.equal(e.kind, 'not_sent');
    assert.equal(e.retryable, true);
  });

  it('async APIs: B2C v3, Transaction Status, Account Balance with Result callbacks; C2B register; QR', async () => {
    const c = clientFor(sim);
    const cred = securityCredential(DEFAULT_APP.initiatorPassword!, SIMULATOR_CERT_PATH);
    const common = { resultUrl: `${rec.url}/result`, queueTimeoutUrl: `${rec.url}/timeout` };
    const b2c = await c.b2cPayment({
      originatorConversationId: 'po_test_1',
      initiatorName: 'testapi',
      securityCredential: cred,
      command: 'BusinessPayment',
      amount: 100,
      shortcode: '600000',
      phone: '254708374149',
      remarks: 'Refund 42',
      ...common,
    });
    assert.equal(b2c.originatorConversationId, 'po_test_1');
    assert.match(b2c.conversationId, /^AG_\d{8}_[0-9a-f]{20}$/);
    assert.equal(b2c.responseDescription, 'Accept the service request successfully.');
    const dup = await rejection(
      c.b2cPayment({
        originatorConversationId: 'po_test_1',
        initiatorName: 'testapi',
        securityCredential: cred,
        command: 'BusinessPayment',
        amount: 100,
        shortcode: '600000',
        phone: '254708374149',
        remarks: 'Refund 42',
        ...common,
      }),
    );
    assert.equal(dup.errorCode, '500.002.1001');
    const bad = await c.b2cPayment({
      originatorConversationId: 'po_test_2',
      initiatorName: 'testapi',
      securityCredential: securityCredential('wrong', SIMULATOR_CERT_PATH),
      command: 'BusinessPayment',
      amount: 100,
      shortcode: '600000',
      phone: '254708374149',
      remarks: 'Refund 43',
      ...common,
    });
    const bal = await c.accountBalance({
      initiatorName: 'testapi',
      securityCredential: cred,
      shortcode: '600000',
      remarks: 'balance',
      ...common,
    });
    const paid = await c.stkPush(push(`${rec.url}/cb/for-status`, '254700000000'));
    const receipt = (await waitUntil(
      () => sim.sandbox.state.entry(paid.checkoutRequestId)?.receipt ?? undefined,
    )) as string;
    assert.match(receipt, /^[L-Z][A-L][1-9A-V][0-9A-Z]{7}$/);
    const st = await c.transactionStatus({
      initiatorName: 'testapi',
      securityCredential: cred,
      transactionId: receipt,
      partyA: '174379',
      identifierType: 'shortcode',
      remarks: 'check',
      ...common,
    });
    const ids = [b2c, bad, bal, st].map((a) => a.conversationId);
    const byConv = (id: string) =>
      rec.received.find(
        (r) => (r.body as { Result?: { ConversationID?: string } }).Result?.ConversationID === id,
      )?.body as { Result: Record<string, unknown> } | undefined;
    await waitUntil(() => (ids.every((id) => byConv(id)) ? true : undefined));
    assert.equal(byConv(b2c.conversationId)?.Result.ResultCode, 0);
    assert.equal(byConv(bad.conversationId)?.Result.ResultCode, 2001);
    assert.equal(byConv(bal.conversationId)?.Result.ResultCode, 0);
    assert.equal(byConv(st.conversationId)?.Result.ResultCode, 0);
    const stParams = (
      byConv(st.conversationId)!.Result.ResultParameters as {
        ResultParameter: Array<{ Key: string; Value: unknown }>;
      }
    ).ResultParameter;
    assert.equal(stParams.find((x) => x.Key === 'ReceiptNo')?.Value, receipt);

    const reg = await c.registerC2bUrls({
      shortcode: '600984',
      defaultAction: 'complete',
      confirmationUrl: `${rec.url}/c2b/confirm`,
      validationUrl: `${rec.url}/c2b/validate`,
    });
    assert.equal(reg.responseCode, '0');
    assert.ok(reg.originatorConversationId.length > 10);
    const stkOnly = await rejection(
      c.registerC2bUrls({
        shortcode: '174379',
        defaultAction: 'complete',
        confirmationUrl: `${rec.url}/c2b/confirm`,
        validationUrl: `${rec.url}/c2b/validate`,
      }),
    );
    assert.equal(stkOnly.httpStatus, 409);
    assert.equal(stkOnly.kind, 'rejected');
    assert.ok(stkOnly.rawBody?.includes('fault'));

    const qr = await c.generateQr({
      merchantName: 'Mama Mboga',
      refNo: 'INV42',
      amount: 50,
      kind: 'buy_goods',
      creditParty: '174380',
    });
    assert.equal(Buffer.from(qr.qrCodePngBase64, 'base64').subarray(1, 4).toString(), 'PNG');
  });
});

describe('Daraja client error shapes (a fake Daraja)', () => {
  let server: Server;
  let base = '';
  let oauthCalls = 0;
  let stkCalls = 0;
  let behaviour:
    | 'apigee'
    | 'html502'
    | 'empty500'
    | 'empty401once'
    | 'spike'
    | 'garbage200'
    | 'busy'
    | 'reset' = 'apigee';
  before(async () => {
    const app = express();
    app.get('/oauth/v1/generate', (_req, res) => {
      oauthCalls++;
      res.json({ access_token: `tok${oauthCalls}`, expires_in: '3599' });
    });
    app.post('/mpesa/stkpush/v1/processrequest', (req, res) => {
      stkCalls++;
      switch (behaviour) {
        case 'apigee':
          res.status(401).json({
            fault: {
              faultstring: 'Invalid API call as no apiproduct match found',
              detail: { errorcode: 'keymanagement.service.InvalidAPICallAsNoApiProductMatchFound' },
            },
          });
          return;
        case 'html502':
          res.status(502).type('html').send('<html><body><h1>502 Bad Gateway</h1></body></html>');
          return;
        case 'empty500':
          res.status(500).end();
          return;
        case 'empty401once':
          if (req.get('authorization') === 'Bearer tok1') res.status(401).end();
          else
            res.json({
              MerchantRequestID: 'm',
              CheckoutRequestID: 'ws_CO_x',
              ResponseCode: '0',
              ResponseDescription: 'Success. Request accepted for processing',
              CustomerMessage: 'ok',
            });
          return;
        case 'spike':
          res.status(429).json({
            fault: {
              faultstring: 'Spike arrest violation',
              detail: { errorcode: 'policies.ratelimit.SpikeArrestViolation' },
            },
          });
          return;
        case 'busy':
          res.status(500).json({
            requestId: '1-2-3',
            errorCode: '500.003.02',
            errorMessage: 'Error Occured: Spike Arrest Violation',
          });
          return;
        case 'garbage200':
          res.status(200).type('text').send('OK');
          return;
        case 'reset':
          req.socket.destroy();
          return;
      }
    });
    server = await new Promise((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    const a = server.address();
    base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const client = () =>
    new DarajaClient({ baseUrl: base, consumerKey: 'k', consumerSecret: 's', timeoutMs: 2000 });

  it('Apigee fault (401, no apiproduct): refresh+retry once, then rejected with the fault code and raw body', async () => {
    behaviour = 'apigee';
    oauthCalls = 0;
    stkCalls = 0;
    const e = await rejection(client().stkPush(push('https://x.example/cb')));
    assert.equal(e.kind, 'rejected');
    assert.equal(e.httpStatus, 401);
    assert.equal(e.errorCode, 'keymanagement.service.InvalidAPICallAsNoApiProductMatchFound');
    assert.equal(e.errorMessage, 'Invalid API call as no apiproduct match found');
    assert.match(e.rawBody ?? '', /"fault"/);
    assert.equal(oauthCalls, 2);
    assert.equal(stkCalls, 2);
  });

  it('HTML 502 page: ambiguous, raw body kept', async () => {
    behaviour = 'html502';
    const e = await rejection(client().stkPush(push('https://x.example/cb')));
    assert.equal(e.kind, 'ambiguous');
    assert.equal(e.httpStatus, 502);
    assert.match(e.rawBody ?? '', /Bad Gateway/);
    assert.equal(e.errorCode, undefined);
  });

  it('empty 500: ambiguous with an empty raw body', async () => {
    behaviour = 'empty500';
    const e = await rejection(client().stkPush(push('https://x.example/cb')));
    assert.equal(e.kind, 'ambiguous');
    assert.equal(e.rawBody, '');
    assert.match(e.message, /empty body/);
  });

  it('empty 401 then success: refreshed once', async () => {
    behaviour = 'empty401once';
    oauthCalls = 0;
    const ack = await client().stkPush(push('https://x.example/cb'));
    assert.equal(ack.checkoutRequestId, 'ws_CO_x');
    assert.equal(oauthCalls, 2);
  });

  it('spike arrest (429 Apigee fault, or the 500.003.02 envelope): rejected and transient', async () => {
    behaviour = 'spike';
    const a = await rejection(client().stkPush(push('https://x.example/cb')));
    assert.equal(a.kind, 'rejected');
    assert.equal(a.transient, true);
    assert.equal(a.retryable, true);
    behaviour = 'busy';
    const b = await rejection(client().stkPush(push('https://x.example/cb')));
    assert.equal(b.kind, 'rejected');
    assert.equal(b.transient, true);
    assert.equal(b.requestId, '1-2-3');
  });

  it('unreadable 2xx: ambiguous', async () => {
    behaviour = 'garbage200';
    const e = await rejection(client().stkPush(push('https://x.example/cb')));
    assert.equal(e.kind, 'ambiguous');
    assert.equal(e.rawBody, 'OK');
  });

  it('connection reset after sending: ambiguous', async () => {
    behaviour = 'reset';
    const e = await rejection(client().stkPush(push('https://x.example/cb')));
    assert.equal(e.kind, 'ambiguous');
  });

  it('an injected fetch that fails to connect is not_sent; one that times out is ambiguous', async () => {
    const refused: typeof fetch = async () => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      });
    };
    const c1 = new DarajaClient({ baseUrl: base, consumerKey: 'k', consumerSecret: 's', fetch: refused });
    assert.equal((await rejection(c1.getToken())).kind, 'not_sent');
    behaviour = 'empty401once';
    const slowFetch: typeof fetch = async (input, init) => {
      if (String(input).includes('/oauth/'))
        return new Response(JSON.stringify({ access_token: 't', expires_in: 3599 }));
      return new Promise((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      });
    };
    const c2 = new DarajaClient({
      baseUrl: base,
      consumerKey: 'k',
      consumerSecret: 's',
      fetch: slowFetch,
      timeoutMs: 100,
    });
    assert.equal((await rejection(c2.stkPush(push('https://x.example/cb')))).kind, 'ambiguous');
  });
});

describe('error body reading', () => {
  it('reads envelopes, Apigee faults, SOAP faults, ResponseCode answers, HTML and empty bodies', () => {
    assert.deepEqual(
      readErrorBody(
        '{"requestId":"4187-21954603-1","errorCode":"400.002.02","errorMessage":"Bad Request - Invalid PhoneNumber"}',
      ),
      {
        errorCode: '400.002.02',
        errorMessage: 'Bad Request - Invalid PhoneNumber',
        requestId: '4187-21954603-1',
        recognised: true,
      },
    );
    assert.equal(
      readErrorBody('{"Envelope":{"Body":{"Fault":{"faultcode":"soap:Server","faultstring":"boom"}}}}')
        .errorMessage,
      'boom',
    );
    assert.equal(readErrorBody('{"ResponseCode":"1","ResponseDescription":"nope"}').errorCode, '1');
    assert.deepEqual(readErrorBody('<html>x</html>'), { rawBody: '<html>x</html>', recognised: false });
    assert.deepEqual(readErrorBody(''), { rawBody: '', recognised: false });
    assert.equal(
      errorFromResponse(
        '/x',
        404,
        '{"requestId":"a","errorCode":"404.001.03","errorMessage":"Invalid Access Token"}',
      ).isInvalidToken,
      true,
    );
    assert.equal(errorFromResponse('/x', 503, '').kind, 'rejected');
    assert.equal(
      errorFromResponse(
        '/x',
        500,
        '{"requestId":"ws_CO_1","errorCode":"500.001.1001","errorMessage":"The transaction is being processed"}',
      ).isPending,
      true,
    );
  });
});
