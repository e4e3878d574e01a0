/**
 * Daraja lookups end to end: the real Temporal dev server, database, worker and Daraja simulator
 * (test/helpers/stack.ts). Account Balance and Transaction Status go through workflow `darajaLookup`
 * and the simulator's Result reaching the hook over loopback; Dynamic QR is a direct call. A small
 * silent "Daraja" (it accepts and never posts a Result) covers the timeout, and a closed port the
 * request that never leaves.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { simulatorChannelInput } from '../../src/admin/dev-bootstrap';
import { lookupResultPath } from '../../src/lookups/hook';
import { stkCallbackPath } from '../../src/payments/callback-token';
import { createChannel, DEVELOPMENT_CHANNEL_POLICY } from '../../src/platform/channels';
import { expectEnvelope } from '../helpers/http';
import { type Stack, startStack } from '../helpers/stack';

// biome-ignore lint/suspicious/noExplicitAny: responses are read as JSON
type Json = any;

/** MALIPO_LOOKUP_WAIT_MS of this file's stack: the simulator answers in ~0.3 s, the silent one never. */
const WAIT_MS = 4000;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const SIMULATOR_ACCOUNTS = [
  {
    name: 'Working Account',
    currency: 'KES',
    available: '900000.00',
    uncleared: '900000.00',
    reserved: '0.00',
  },
  {
    name: 'Utility Account',
    currency: 'KES',
    available: '10116.00',
    uncleared: '10116.00',
    reserved: '0.00',
  },
  {
    name: 'Charges Paid Account',
    currency: 'KES',
    available: '-4510.00',
    uncleared: '-4510.00',
    reserved: '0.00',
  },
];

let s: Stack;
/** A "Daraja" that issues tokens and acknowledges balance requests but never posts a Result. */
let silent: http.Server;
let silentUrl: string;
const silentSeen: string[] = [];

before(async () => {
  s = await startStack({
    postgresUrl: process.env.MALIPO_TEST_DATABASE_URL,
    env: { MALIPO_LOOKUP_WAIT_MS: String(WAIT_MS) },
  });
  silent = http.createServer((req, res) => {
    silentSeen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url?.startsWith('/oauth/v1/generate')) {
        res.end(JSON.stringify({ access_token: 'silent-token', expires_in: '3599' }));
      } else if (req.url === '/mpesa/transactionstatus/v1/query') {
        res.statusCode = 400;
        res.end(
          JSON.stringify({
            requestId: 'silent-1',
            errorCode: '400.002.02',
            errorMessage: 'Bad Request - Invalid PartyA',
          }),
        );
      } else {
        res.end(
          JSON.stringify({
            OriginatorConversationID: 'silent-oc',
            ConversationID: 'AG_20240101_silent',
            ResponseCode: '0',
            ResponseDescription: 'Accept the service request successfully.',
          }),
        );
      }
    });
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
});
after(async () => {
  silent?.closeAllConnections();
  await new Promise((r) => (silent ? silent.close(() => r(undefined)) : r(undefined)));
  await s?.stop();
});

/** A further simulator channel of the stack's merchant (not the default). */
async function channel(over: Record<string, unknown> = {}): Promise<string> {
  const ch = await createChannel(
    s.db,
    s.secretBox,
    s.merchantId,
    { ...simulatorChannelInput(`${s.url}/sandbox/daraja`), isDefault: false, name: 'extra', ...over },
    { actor: 'e2e' },
    DEVELOPMENT_CHANNEL_POLICY,
  );
  return ch.id;
}

/** The lookups the simulator received, newest last. */
const statusQueries = () =>
  s.sandbox.state
    .ledger()
    .asyncRequests.filter((a) => a.kind === 'account_balance' || a.kind === 'transaction_status');

describe('Daraja lookups end to end', () => {
  it('GET /v1/balance answers the simulator’s three accounts, and no secret is in the workflow history', async () => {
    const before = statusQueries().length;
    const r = await s.api('GET', '/v1/balance');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.object, 'balance');
    assert.equal(r.body.channelId, s.channelId);
    assert.match(r.body.lookupId, /^lkp_[0-9A-Za-z]{22}$/);
    assert.deepEqual(r.body.accounts, SIMULATOR_ACCOUNTS);
    assert.ok(Math.abs(Date.parse(r.body.completedAt) - Date.now()) < 60_000, r.body.completedAt);

    const sent = statusQueries().slice(before);
    assert.equal(sent.length, 1, 'one request to Daraja');
    const req = sent[0]!.request as Json;
    assert.equal(req.CommandID, 'AccountBalance');
    assert.equal(String(req.PartyA), '174379');
    assert.equal(String(req.IdentifierType), '4');
    assert.equal(req.Initiator, 'testapi');
    const url = `${s.url}${lookupResultPath(s.callbackSecret, r.body.lookupId)}`;
    assert.equal(req.ResultURL, url);
    assert.equal(req.QueueTimeOutURL, url);
    assert.doesNotMatch(new URL(url).pathname, /mpesa|safaricom|query/i);
    assert.equal(sent[0]!.callbacks[0]?.httpStatus, 200, 'the hook acknowledged the Result');

    // the named channel works the same; the history holds neither the password nor the URL token
    const again = await s.api('GET', `/v1/balance?channelId=${s.channelId}`);
    assert.equal(again.status, 200, again.text);
    const history = JSON.stringify(await s.temporal.workflow.getHandle(r.body.lookupId).fetchHistory());
    const token = url.slice(url.lastIndexOf('/') + 1);
    for (const secret of ['Safaricom999!*!', token, 'SecurityCredential']) {
      assert.ok(!history.includes(secret), `history must not contain ${secret}`);
      // payloads are base64 in the history JSON
      assert.ok(!history.includes(Buffer.from(secret).toString('base64').slice(0, 12)), secret);
    }
  });

  it('a wrong initiator password: Daraja’s 2001 surfaces as a clear 502', async () => {
    const wrong = await channel({ initiatorPassword: 'NotThePassword1' });
    const r = await s.api('GET', `/v1/balance?channelId=${wrong}`);
    const b = expectEnvelope(r, 502, 'UPSTREAM_ERROR');
    assert.match(b.error.message, /2001/);
    assert.match(b.error.message, /initiator/i);
    assert.deepEqual(b.error.details, [
      { path: 'daraja', message: 'The initiator information is invalid.', code: '2001' },
    ]);
    // a status lookup on that channel is no "not found": it is the same upstream failure
    const st = await s.api('POST', '/v1/transactions/status', { receipt: 'UKM8EOG5BS', channelId: wrong });
    assert.equal(expectEnvelope(st, 502, 'UPSTREAM_ERROR').error.details?.length, 1);
  });

  it('a channel without an initiator: 422 CHANNEL_MISCONFIGURED, and nothing is sent', async () => {
    const none = await channel({ initiatorName: null, initiatorPassword: null });
    const before = statusQueries().length;
    const r = await s.api('GET', `/v1/balance?channelId=${none}`);
    const b = expectEnvelope(r, 422, 'CHANNEL_MISCONFIGURED');
    assert.match(b.error.message, /initiator name and password/);
    assert.match(b.error.message, new RegExp(none));
    const st = await s.api('POST', '/v1/transactions/status', { receipt: 'UKM8EOG5BS', channelId: none });
    expectEnvelope(st, 422, 'CHANNEL_MISCONFIGURED');
    assert.equal(statusQueries().length, before);
  });

  it('Transaction Status of a real simulated STK payment is found and Completed, with its amount', async () => {
    const created = await s.api('POST', '/v1/payments/stk-push', {
      phone: '254700000000',
      amount: 137,
      reference: 'LOOKUP1',
    });
    assert.equal(created.status, 202, created.text);
    const paid = await s.waitForStatus(
      created.body.id,
      (p) => p.status !== 'pending' && (p.status !== 'success' || p.mpesaReceipt !== null),
      60_000,
    );
    assert.equal(paid.status, 'success', JSON.stringify(paid));
    assert.match(paid.mpesaReceipt, /^[A-Z0-9]{10}$/);

    const r = await s.api('POST', '/v1/transactions/status', { receipt: paid.mpesaReceipt });
    assert.equal(r.status, 200, r.text);
    const t = r.body;
    assert.equal(t.object, 'transaction_status');
    assert.equal(t.channelId, s.channelId);
    assert.equal(t.found, true);
    assert.equal(t.status, 'Completed');
    assert.equal(t.receipt, paid.mpesaReceipt);
    assert.equal(t.amount, 137);
    assert.match(t.debitPartyName, /254700000000/);
    assert.match(t.creditPartyName, /174379/);
    assert.equal(t.reasonType, 'Pay Bill Online');
    assert.equal(t.resultCode, '0');
    for (const at of [t.initiatedAt, t.finalisedAt]) {
      assert.ok(Math.abs(Date.parse(at) - Date.now()) < 120_000, `${at} is about now`);
    }
    const req = statusQueries().at(-1)!.request as Json;
    assert.equal(req.CommandID, 'TransactionStatusQuery');
    assert.equal(req.TransactionID, paid.mpesaReceipt);
    assert.equal(String(req.IdentifierType), '4');
  });

  it('an unknown receipt (or conversation) is a valid answer: found false with Daraja’s code', async () => {
    const r = await s.api('POST', '/v1/transactions/status', { receipt: 'ZZ00ZZ00ZZ' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.found, false);
    assert.equal(r.body.receipt, 'ZZ00ZZ00ZZ');
    assert.equal(r.body.status, null);
    assert.equal(r.body.amount, null);
    assert.notEqual(r.body.resultCode, '0');
    assert.ok(r.body.resultDesc.length > 0);

    const byConversation = await s.api('POST', '/v1/transactions/status', {
      originatorConversationId: 'no-such-conversation-1',
    });
    assert.equal(byConversation.status, 200, byConversation.text);
    assert.equal(byConversation.body.found, false);
    assert.equal((statusQueries().at(-1)!.request as Json).OriginalConversationID, 'no-such-conversation-1');
  });

  it('POST /v1/qr: JSON with a base64 PNG, or the PNG itself for Accept: image/png', async () => {
    const body = { amount: 500, reference: 'INV0042' };
    const json = await s.api('POST', '/v1/qr', body);
    assert.equal(json.status, 200, json.text);
    assert.equal(json.body.object, 'qr');
    assert.equal(json.body.format, 'png');
    assert.equal(json.body.kind, 'paybill');
    assert.equal(json.body.channelId, s.channelId);
    assert.equal(json.body.size, 300);
    assert.ok(json.body.requestId.length > 0);
    const png = Buffer.from(json.body.base64, 'base64');
    assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);
    assert.equal(png.readUInt32BE(16), 300, 'IHDR width is the requested size');

    const image = await fetch(`${s.url}/v1/qr`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${s.key}`,
        'content-type': 'application/json',
        accept: 'image/png',
      },
      body: JSON.stringify({ ...body, size: 120 }),
    });
    assert.equal(image.status, 200);
    assert.match(image.headers.get('content-type') ?? '', /^image\/png/);
    const bytes = Buffer.from(await image.arrayBuffer());
    assert.deepEqual(bytes.subarray(0, 8), PNG_SIGNATURE);
    assert.equal(bytes.readUInt32BE(16), 120);
    // JSON wins when both are equally welcome
    const either = await s.api('POST', '/v1/qr', body, { accept: 'application/json, image/png' });
    assert.equal(either.body.object, 'qr');

    // a till channel: buy goods by default, CPI = the till number
    const till = await channel({ type: 'till', tillNumber: '174380' });
    const t = await s.api('POST', '/v1/qr', {
      ...body,
      channelId: till,
      size: 50,
      merchantName: 'Mama Mboga',
    });
    assert.equal(t.status, 200, t.text);
    assert.equal(t.body.kind, 'buy_goods');
    const wrongKind = await s.api('POST', '/v1/qr', { ...body, channelId: till, kind: 'paybill' });
    const [issue] = expectEnvelope(wrongKind, 400, 'VALIDATION_ERROR').error.details as Json[];
    assert.equal(issue.path, 'kind');
    assert.match(issue.message, /till/);
    const noTill = await s.api('POST', '/v1/qr', { ...body, kind: 'buy_goods' });
    expectEnvelope(noTill, 400, 'VALIDATION_ERROR');
  });

  it('bad input answers the error envelope and sends nothing to Daraja', async () => {
    const before = statusQueries().length;
    const qrBefore = s.sandbox.state.ledger().requests.qr ?? 0;
    const status = (body: unknown) => s.api('POST', '/v1/transactions/status', body);
    for (const body of [
      {},
      { receipt: 'UKM8EOG5BS', originatorConversationId: 'abc' },
      { receipt: 'ukm8eog5bs' },
      { receipt: 'UKM8EOG5B' },
      { receipt: 'UKM8EOG5BS1' },
      { receipt: 'UKM8EOG5BS', surprise: 1 },
      { receipt: 'UKM8EOG5BS', channelId: 'nope' },
      { originatorConversationId: 'has space' },
      [],
    ]) {
      expectEnvelope(await status(body), 400, 'VALIDATION_ERROR');
    }
    expectEnvelope(await s.api('GET', '/v1/balance?channelId=nope'), 400, 'VALIDATION_ERROR');
    expectEnvelope(
      await s.api('GET', '/v1/balance?channelId=ch_Unknown000000000000000'),
      404,
      'RESOURCE_NOT_FOUND',
    );
    const other = await s.newMerchant('Other');
    expectEnvelope(await s.api('GET', `/v1/balance?channelId=${other.channelId}`), 404, 'RESOURCE_NOT_FOUND');
    expectEnvelope(
      await status({ receipt: 'UKM8EOG5BS', channelId: other.channelId }),
      404,
      'RESOURCE_NOT_FOUND',
    );

    const qr = (body: unknown) => s.api('POST', '/v1/qr', body);
    const ok = { amount: 100, reference: 'INV1' };
    for (const amount of [0, -1, 1.5, 250_001]) {
      expectEnvelope(await qr({ ...ok, amount }), 400, 'INVALID_AMOUNT');
    }
    for (const body of [
      { ...ok, amount: '100' },
      { amount: 100 },
      { ...ok, reference: 'ABCDEFGHIJKLM' },
      { ...ok, reference: 'A&B' },
      { ...ok, reference: '   ' },
      { ...ok, size: 49 },
      { ...ok, size: 2001 },
      { ...ok, size: 300.5 },
      { ...ok, kind: 'send_money' },
      { ...ok, merchantName: 'Mama <script>' },
      { ...ok, extra: true },
    ]) {
      expectEnvelope(await qr(body), 400, 'VALIDATION_ERROR');
    }
    const raw = await s.request('POST', '/v1/qr', { raw: '{"amount":', contentType: 'application/json' });
    expectEnvelope(raw, 400, 'MALFORMED_JSON');
    const text = await s.request('POST', '/v1/qr', { raw: 'amount=1', contentType: 'text/plain' });
    expectEnvelope(text, 415, 'UNSUPPORTED_MEDIA_TYPE');

    assert.equal(statusQueries().length, before, 'no lookup reached Daraja');
    assert.equal(s.sandbox.state.ledger().requests.qr ?? 0, qrBefore, 'no QR request reached Daraja');
  });

  it('every lookup route is secured: 401 without or with a wrong key, 403 without the scope', async () => {
    const paymentsRead = await s.newKey(['payments:read']);
    const balanceRead = await s.newKey(['balance:read']);
    const routes = [
      { method: 'GET', path: '/v1/balance', scope: 'balance:read', lacking: paymentsRead.key },
      {
        method: 'POST',
        path: '/v1/transactions/status',
        body: { receipt: 'UKM8EOG5BS' },
        scope: 'payments:read',
        lacking: balanceRead.key,
      },
      {
        method: 'POST',
        path: '/v1/qr',
        body: { amount: 10, reference: 'X1' },
        scope: 'payments:create',
        lacking: paymentsRead.key,
      },
    ];
    const before = statusQueries().length;
    for (const r of routes) {
      const send = (key: string | null) => s.request(r.method, r.path, { key, body: r.body });
      expectEnvelope(await send(null), 401, 'UNAUTHORIZED');
      expectEnvelope(await send(`mlp_test_${'A'.repeat(43)}`), 401, 'INVALID_API_KEY');
      const denied = expectEnvelope(await send(r.lacking), 403, 'MISSING_SCOPE');
      assert.match(denied.error.message, new RegExp(r.scope));
    }
    assert.equal(statusQueries().length, before);
    // balance:read is enough for the balance
    assert.equal((await s.request('GET', '/v1/balance', { key: balanceRead.key })).status, 200);
  });

  it('the Result hook: a wrong token is 404; a good one is always acknowledged', async () => {
    const id = 'lkp_NoSuchLookup00000000000';
    const path = lookupResultPath(s.callbackSecret, id);
    const hook = (url: string, body: unknown) => s.request('POST', url, { key: null, body });
    const result = { Result: { ResultType: 0, ResultCode: 0, ResultDesc: 'ok', ConversationID: 'AG_x' } };

    const wrongToken = `${path.slice(0, path.lastIndexOf('/') + 1)}${'A'.repeat(32)}`;
    const wrong = await hook(wrongToken, result);
    expectEnvelope(wrong, 404, 'RESOURCE_NOT_FOUND');
    assert.ok(!wrong.text.includes('A'.repeat(32)), 'the token is not echoed');
    expectEnvelope(await hook(`/hooks/daraja/lookup/${id}/short`, result), 404, 'RESOURCE_NOT_FOUND');
    // a token for another purpose (an STK callback token) does not open the lookup hook
    const stkToken = stkCallbackPath(s.callbackSecret, id).split('/').pop();
    expectEnvelope(await hook(`/hooks/daraja/lookup/${id}/${stkToken}`, result), 404, 'RESOURCE_NOT_FOUND');

    for (const body of [result, { hello: 'world' }, 'not an object']) {
      const ack = await hook(path, body);
      assert.equal(ack.status, 200, ack.text);
      assert.deepEqual(ack.body, { ResultCode: 0, ResultDesc: 'Accepted' });
    }
  });

  it('no Result in time is 504; a refused request is 502; a request that never leaves is 502', async () => {
    const quiet = await channel({ baseUrl: silentUrl });
    const started = Date.now();
    const r = await s.api('GET', `/v1/balance?channelId=${quiet}`);
    const took = Date.now() - started;
    const b = expectEnvelope(r, 504, 'UPSTREAM_TIMEOUT');
    assert.match(b.error.message, /did not answer the balance request/);
    assert.ok(took >= WAIT_MS - 500 && took < WAIT_MS + 8000, `answered after ${took} ms`);
    assert.ok(silentSeen.includes('POST /mpesa/accountbalance/v1/query'));

    const refused = await s.api('POST', '/v1/transactions/status', {
      receipt: 'UKM8EOG5BS',
      channelId: quiet,
    });
    const rb = expectEnvelope(refused, 502, 'UPSTREAM_ERROR');
    assert.match(rb.error.message, /refused/);
    assert.deepEqual(rb.error.details, [
      { path: 'daraja', message: 'Bad Request - Invalid PartyA', code: '400.002.02' },
    ]);

    // nothing listens on port 9: the token request fails, so nothing was sent (sent again, then 502)
    const closed = await channel({ baseUrl: 'http://127.0.0.1:9/sandbox/daraja' });
    const gone = await s.api('GET', `/v1/balance?channelId=${closed}`);
    const gb = expectEnvelope(gone, 502, 'UPSTREAM_ERROR');
    assert.match(gb.error.message, /could not reach Daraja/);
  });
});
