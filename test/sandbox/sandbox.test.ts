import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { nairobiTimestamp, stkPassword } from '../../src/daraja/password';
import { DEFAULT_APP, SANDBOX_PASSKEY, type SandboxServer } from '../../src/sandbox';
import { clientFor, type Receiver, startReceiver, startSim, waitUntil } from '../helpers/sandbox';

const ts = nairobiTimestamp(new Date());
const good = (over: Record<string, unknown> = {}) => ({
  BusinessShortCode: 174379,
  Password: stkPassword('174379', SANDBOX_PASSKEY, ts),
  Timestamp: ts,
  TransactionType: 'CustomerPayBillOnline',
  Amount: 1,
  PartyA: 254722000001,
  PartyB: 174379,
  PhoneNumber: 254722000001,
  CallBackURL: 'http://127.0.0.1:9/cb',
  AccountReference: 'INV1',
  TransactionDesc: 'Pay',
  ...over,
});

describe('simulator: Daraja validation and envelopes', () => {
  let sim: SandboxServer;
  let token: string;
  before(async () => {
    sim = await startSim({ callbackDelayMs: 30, promptTimeoutMs: 300 });
    token = await clientFor(sim).getToken();
  });
  after(() => sim.close());

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${sim.url}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, string> }));

  it('OAuth: Basic auth, grant_type, expires_in as the string "3599"', async () => {
    const basic = Buffer.from(`${DEFAULT_APP.consumerKey}:${DEFAULT_APP.consumerSecret}`).toString('base64');
    const ok = await fetch(`${sim.url}/oauth/v1/generate?grant_type=client_credentials`, {
      headers: { Authorization: `Basic ${basic}` },
    });
    const body = (await ok.json()) as Record<string, unknown>;
    assert.equal(ok.status, 200);
    assert.equal(body.expires_in, '3599');
    const grant = await fetch(`${sim.url}/oauth/v1/generate?grant_type=password`, {
      headers: { Authorization: `Basic ${basic}` },
    });
    assert.equal(grant.status, 400);
    assert.equal(((await grant.json()) as Record<string, string>).errorCode, '400.008.02');
    const noAuth = await fetch(`${sim.url}/oauth/v1/generate?grant_type=client_credentials`);
    assert.equal(
      ((await noAuth.json()) as Record<string, string>).errorMessage,
      'Invalid Authentication passed',
    );
  });

  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['decimal amount', { Amount: 1.5 }, 'Bad Request - Invalid Amount'],
    ['amount above the cap', { Amount: 250001 }, 'Bad Request - Invalid Amount'],
    ['07 phone', { PhoneNumber: '0722000001' }, 'Bad Request - Invalid PhoneNumber'],
    ['bad PartyA', { PartyA: 123 }, 'Bad Request - Invalid PartyA'],
    ['bad timestamp', { Timestamp: '2024-01-01' }, 'Bad Request - Invalid Timestamp'],
    ['missing TransactionDesc', { TransactionDesc: null }, 'Bad Request - Invalid Remarks'],
    ['URL with a space', { CallBackURL: 'https://a.b/c d' }, 'Bad Request - Invalid CallBackURL'],
    ['bad TransactionType', { TransactionType: 'Pay' }, 'Bad Request - Invalid TransactionType'],
  ];
  for (const [name, over, message] of cases) {
    it(`${name} → 400.002.02 "${message}"`, async () => {
      const r = await post('/mpesa/stkpush/v1/processrequest', good(over));
      assert.equal(r.status, 400);
      assert.equal(r.body.errorCode, '400.002.02');
      assert.equal(r.body.errorMessage, message);
      assert.match(r.body.requestId!, /^\d{4}-\d{8}-\d$/);
    });
  }

  it('wrong password → 500.001.1001 Wrong credentials; unknown shortcode → Merchant does not exist', async () => {
    const a = await post(
      '/mpesa/stkpush/v1/processrequest',
      good({ Password: stkPassword('174379', 'nope', ts) }),
    );
    assert.equal(a.status, 500);
    assert.equal(a.body.errorCode, '500.001.1001');
    assert.equal(a.body.errorMessage, '[MerchantValidate] - Wrong credentials');
    const b = await post('/mpesa/stkpush/v1/processrequest', good({ BusinessShortCode: 600000 }));
    assert.equal(b.body.errorMessage, 'Merchant does not exist');
  });

  it('expired or unknown token → 404.001.03; missing header → 404.001.04', async () => {
    const a = await post('/mpesa/stkpush/v1/processrequest', good(), { Authorization: 'Bearer garbage' });
    assert.equal(a.status, 404);
    assert.equal(a.body.errorCode, '404.001.03');
    assert.equal(a.body.errorMessage, 'Invalid Access Token');
    const b = await post('/mpesa/stkpush/v1/processrequest', good(), { Authorization: '' });
    assert.equal(b.body.errorCode, '404.001.04');
  });

  it('never crashes on bad input: malformed JSON, wrong content type, arrays, unknown paths, wrong methods', async () => {
    const bad = await post('/mpesa/stkpush/v1/processrequest', '{"BusinessShortCode":');
    assert.equal(bad.body.errorMessage, 'Bad Request - Invalid BusinessShortCode');
    const text = await post('/mpesa/stkpush/v1/processrequest', JSON.stringify(good()), {
      'Content-Type': 'text/plain',
    });
    assert.equal(text.body.errorMessage, 'Bad Request - Invalid BusinessShortCode');
    assert.equal((await post('/mpesa/stkpush/v1/processrequest', [1, 2])).status, 400);
    assert.equal((await post('/mpesa/nope', {})).body.errorCode, '404.001.01');
    const get = await fetch(`${sim.url}/mpesa/stkpush/v1/processrequest`);
    assert.equal(get.status, 405);
    assert.equal(((await get.json()) as Record<string, string>).errorCode, '405.001');
    const mounted = await fetch(`${sim.url}/sandbox/daraja/mpesa/stkpushquery/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ BusinessShortCode: 174379 }),
    });
    assert.equal(
      ((await mounted.json()) as Record<string, string>).errorMessage,
      'Bad Request - Invalid Password',
    );
  });

  it('till mix-up (CustomerBuyGoodsOnline with the paybill as PartyB) is accepted then fails 2028', async () => {
    const r = await post(
      '/mpesa/stkpush/v1/processrequest',
      good({ TransactionType: 'CustomerBuyGoodsOnline', PartyA: 254722000002, PhoneNumber: 254722000002 }),
    );
    assert.equal(r.status, 200);
    const e = await waitUntil(() => {
      const x = sim.sandbox.state.entry(r.body.CheckoutRequestID!);
      return x?.status === 'completed' ? x : undefined;
    });
    assert.equal(e.resultCode, 2028);
  });

  it('an unscripted phone waits, then times out with 1037; a receiver that is down is recorded, not fatal', async () => {
    const r = await post(
      '/mpesa/stkpush/v1/processrequest',
      good({ PartyA: 254722000003, PhoneNumber: 254722000003 }),
    );
    const id = r.body.CheckoutRequestID!;
    assert.equal(sim.sandbox.state.entry(id)?.status, 'open');
    const e = await waitUntil(() => {
      const x = sim.sandbox.state.entry(id);
      return x && x.callbacks.length > 0 && x.callbacks[0]!.error ? x : undefined;
    }, 3000);
    assert.equal(e.resultCode, 1037);
    assert.equal(e.customerAction, 'no_answer');
    assert.equal(e.callbacks[0]!.ok, false);
  });
});

describe('simulator: control API, handset page, faults, seeds', () => {
  let sim: SandboxServer;
  let rec: Receiver;
  before(async () => {
    sim = await startSim({ callbackDelayMs: 30, promptTimeoutMs: 5000 });
    rec = await startReceiver();
  });
  after(async () => {
    await sim.close();
    await rec.close();
  });
  const ctl = (path: string, body?: unknown, method = 'POST') =>
    fetch(`${sim.url}/sandbox/__sandbox${path}`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const pushTo = (phone: string, ref = 'CTL') =>
    clientFor(sim).stkPush({
      shortcode: '174379',
      passkey: SANDBOX_PASSKEY,
      type: 'paybill',
      amount: 7,
      phone,
      callbackUrl: `${rec.url}/cb/${phone}`,
      accountReference: ref,
      description: 'Ctl',
    });

  it('sets an outcome for a phone (future pushes)', async () => {
    const r = await ctl('/outcomes', { phone: '0733000001', resultCode: 1, callback: 'duplicate' });
    assert.equal(r.status, 200);
    const ack = await pushTo('254733000001');
    const e = await waitUntil(() => {
      const x = sim.sandbox.state.entry(ack.checkoutRequestId);
      return x?.callbacks.length === 2 ? x : undefined;
    });
    assert.equal(e.resultCode, 1);
    assert.equal(e.customerAction, 'insufficient_funds');
    assert.equal(e.source, 'override');
  });

  it('sets an outcome for an open CheckoutRequestID; 409 once final; 400 on bad input', async () => {
    const ack = await pushTo('254733000002');
    const r = await ctl('/outcomes', { checkoutRequestId: ack.checkoutRequestId, resultCode: 'SFC_IC0003' });
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as Record<string, unknown>).resultCode, 'SFC_IC0003');
    assert.equal(
      (await ctl('/outcomes', { checkoutRequestId: ack.checkoutRequestId, resultCode: 0 })).status,
      409,
    );
    assert.equal((await ctl('/outcomes', { resultCode: 0 })).status, 400);
    assert.equal((await ctl('/outcomes', '{nope' as unknown as object)).status, 400);
  });

  it('handset page lists open prompts; Pay with a PIN, Cancel and Ignore drive the ledger', async () => {
    const a = await pushTo('254733000003', 'HANDSET1');
    const page = await fetch(`${sim.url}/sandbox/phone/0733000003`);
    const html = await page.text();
    assert.equal(page.status, 200);
    assert.match(html, /KES 7/);
    assert.match(html, /HANDSET1/);
    assert.match(html, /name="pin"/);
    assert.doesNotMatch(html, /<script|https?:\/\//);
    const form = (id: string, action: string, body = '') =>
      fetch(`${sim.url}/sandbox/phone/254733000003/prompts/${id}/${action}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body,
        redirect: 'manual',
      });
    const noPin = await form(a.checkoutRequestId, 'pay', 'pin=12');
    assert.equal(noPin.status, 303);
    assert.equal(sim.sandbox.state.entry(a.checkoutRequestId)?.status, 'open');
    const paid = await form(a.checkoutRequestId, 'pay', 'pin=4321');
    assert.match(paid.headers.get('location') ?? '', /^\/sandbox\/phone\/254733000003\?msg=Paid/);
    const e = sim.sandbox.state.entry(a.checkoutRequestId)!;
    assert.equal(e.customerAction, 'paid');
    assert.equal(e.source, 'handset');
    assert.match(e.receipt ?? '', /^[A-Z0-9]{10}$/);

    const b = await pushTo('254733000003', 'HANDSET2');
    await form(b.checkoutRequestId, 'cancel');
    assert.equal(sim.sandbox.state.entry(b.checkoutRequestId)?.resultCode, 1032);
    const c = await pushTo('254733000003', 'HANDSET3');
    await form(c.checkoutRequestId, 'ignore');
    assert.equal(sim.sandbox.state.entry(c.checkoutRequestId)?.customerAction, 'ignored');
    const d = await pushTo('254733000003', 'HANDSET4');
    await form(d.checkoutRequestId, 'pay', 'pin=0000');
    assert.equal(sim.sandbox.state.entry(d.checkoutRequestId)?.resultCode, 2001);
    assert.equal((await fetch(`${sim.url}/sandbox/phone/12345`)).status, 400);
    const ledger = (await (await ctl('/ledger', undefined, 'GET')).json()) as {
      pushesByPhone: Record<string, number>;
    };
    assert.equal(ledger.pushesByPhone['254733000003'], 4);
  });

  it('fault rates: push 5xx and query errors (envelope or Apigee fault), then reset', async () => {
    assert.equal((await ctl('/faults', { pushError: 2 })).status, 400);
    await ctl('/faults', { pushError: 1 });
    await assert.rejects(
      pushTo('254733000004'),
      (e: { errorCode?: string }) => e.errorCode === '500.003.1001',
    );
    await ctl('/faults', { pushError: 0, queryError: 1 });
    const ack = await pushTo('254733000005');
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      try {
        await clientFor(sim).stkQuery({
          shortcode: '174379',
          passkey: SANDBOX_PASSKEY,
          checkoutRequestId: ack.checkoutRequestId,
        });
      } catch (e) {
        const err = e as { transient: boolean; errorCode: string; httpStatus: number };
        assert.equal(err.transient, true);
        seen.add(`${err.httpStatus}`);
      }
    }
    assert.deepEqual([...seen].sort(), ['429', '500']);
    assert.equal((await ctl('/reset')).status, 204);
    const ledger = sim.sandbox.state.ledger();
    assert.equal(ledger.pushes.length, 0);
    assert.deepEqual(sim.sandbox.state.faults.queryError, 0);
  });

  it('the same seed gives the same ids', async () => {
    const runs: string[][] = [];
    for (let i = 0; i < 2; i++) {
      const s = await startSim({ seed: 7, now: () => new Date(Date.UTC(2024, 0, 1, 9, 0, 0)) });
      try {
        const ack = await clientFor(s, { now: () => Date.UTC(2024, 0, 1, 9, 0, 0) }).stkPush({
          shortcode: '174379',
          passkey: SANDBOX_PASSKEY,
          type: 'paybill',
          amount: 1,
          phone: '254708374149',
          callbackUrl: 'http://127.0.0.1:9/cb',
          accountReference: 'SEED',
          description: 'Seed',
        });
        runs.push([ack.merchantRequestId, ack.checkoutRequestId]);
      } finally {
        await s.close();
      }
    }
    assert.deepEqual(runs[0], runs[1]);
    assert.equal(runs[0]![1], 'ws_CO_01012024120000000708374149');
  });
});
