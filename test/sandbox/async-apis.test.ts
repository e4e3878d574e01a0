import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, afterEach, before, describe, it } from 'node:test';
import express from 'express';
import { parseAsyncResult, transactionStatusDetails } from '../../src/daraja/callbacks';
import { DarajaError } from '../../src/daraja/errors';
import { SIMULATOR_CERT_PATH, securityCredential } from '../../src/daraja/security-credential';
import {
  B2C_SCENARIOS,
  type C2bPaymentLedgerEntry,
  DEFAULT_APP,
  type LedgerSnapshot,
  type PayoutLedgerEntry,
  SANDBOX_PASSKEY,
  type SandboxServer,
  SandboxState,
} from '../../src/sandbox';
import { clientFor, sleep, startSim, waitUntil } from '../helpers/sandbox';

const CREDENTIAL = securityCredential(DEFAULT_APP.initiatorPassword!, { path: SIMULATOR_CERT_PATH });
/** Longer than callbackDelayMs (30 ms) plus a margin: long enough for any Result that was going to come. */
const QUIET_MS = 300;

// ----- a receiver whose answer depends on the path ------------------------------------------------

interface Hit {
  path: string;
  body: Record<string, unknown>;
}
type Answer = { status?: number; body?: unknown; delayMs?: number };

interface Receiver {
  url: string;
  hits: Hit[];
  /** Answer for a path prefix; default 200 `{ResultCode: 0, ResultDesc: "Accepted"}`. */
  answers: Map<string, (hitsSoFar: number) => Answer>;
  on(path: string): Hit[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const app = express();
  const hits: Hit[] = [];
  const answers = new Map<string, (n: number) => Answer>();
  app.use(express.json());
  app.post('/{*path}', async (req, res) => {
    hits.push({ path: req.path, body: req.body as Record<string, unknown> });
    const key = [...answers.keys()].find((k) => req.path.startsWith(k));
    const a = key ? answers.get(key)!(hits.filter((h) => h.path === req.path).length) : {};
    if (a.delayMs) await sleep(a.delayMs);
    if (!res.destroyed) res.status(a.status ?? 200).json(a.body ?? { ResultCode: 0, ResultDesc: 'Accepted' });
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const addr = server.address();
  return {
    url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`,
    hits,
    answers,
    on: (path) => hits.filter((h) => h.path === path),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// ----- helpers ------------------------------------------------------------------------------------

let seq = 0;
const newId = (tag: string) => `T${tag}-${Date.now().toString(36)}-${++seq}`;

type ResultBody = { Result: Record<string, unknown> };
const resultOf = (h: Hit) => h.body as unknown as ResultBody;
const params = (h: Hit) => {
  const p = parseAsyncResult(h.body);
  assert.ok(p.ok, 'a parseable Result');
  return p.value;
};

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as T };
}

function rawPost(sim: SandboxServer, token: string, path: string, body: unknown) {
  return fetch(`${sim.url}${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
}

function payoutInput(rec: Receiver, phone: string, id: string, amount = 150) {
  return {
    originatorConversationId: id,
    initiatorName: 'testapi',
    securityCredential: CREDENTIAL,
    command: 'BusinessPayment' as const,
    amount,
    shortcode: '600000',
    phone,
    remarks: 'Payout test',
    resultUrl: `${rec.url}/b2c/result/${id}`,
    queueTimeoutUrl: `${rec.url}/b2c/timeout/${id}`,
  };
}

function statusInput(rec: Receiver, tag: string, by: { receipt?: string; originalConversationId?: string }) {
  return {
    initiatorName: 'testapi',
    securityCredential: CREDENTIAL,
    transactionId: by.receipt,
    originalConversationId: by.originalConversationId,
    partyA: '600000',
    identifierType: 'shortcode' as const,
    resultUrl: `${rec.url}/status/result/${tag}`,
    queueTimeoutUrl: `${rec.url}/status/timeout/${tag}`,
    remarks: 'Status check',
  };
}

const payoutOf = (sim: SandboxServer, id: string, status = 200): PayoutLedgerEntry => {
  const p = sim.sandbox.state
    .ledger()
    .payouts.find((x) => x.originatorConversationId === id && x.httpStatus === status);
  assert.ok(p, `payout ${id} (HTTP ${status}) is in the ledger`);
  return p;
};

// =====================================================================================================

describe('B2C scenario phones: ledger and callbacks match the table', () => {
  let sim: SandboxServer;
  let rec: Receiver;
  const tested = new Set<string>();
  before(async () => {
    sim = await startSim({ callbackDelayMs: 30, slowResponseMs: 600, duplicateCallbackGapMs: 60 });
    rec = await startReceiver();
  });
  after(async () => {
    await sim.close();
    await rec.close();
  });

  /** Asks Transaction Status by OriginalConversationID and returns the Result it POSTs. */
  async function statusByConversation(id: string) {
    const tag = newId('st');
    await clientFor(sim).transactionStatus(statusInput(rec, tag, { originalConversationId: id }));
    const [hit] = await rec_wait(`/status/result/${tag}`, 1);
    return params(hit!);
  }
  async function statusByReceipt(receipt: string) {
    const tag = newId('st');
    await clientFor(sim).transactionStatus(statusInput(rec, tag, { receipt }));
    const [hit] = await rec_wait(`/status/result/${tag}`, 1);
    return params(hit!);
  }
  const rec_wait = (path: string, n: number) =>
    waitUntil(() => (rec.on(path).length >= n ? rec.on(path) : undefined));

  for (const phone of ['254722000100', '254708374149']) {
    it(`${phone}: paid, the success Result goes to ResultURL`, async () => {
      tested.add(phone);
      const id = newId('paid');
      const ack = await clientFor(sim).b2cPayment(payoutInput(rec, phone, id, 150));
      assert.equal(ack.originatorConversationId, id);
      const [hit] = await rec_wait(`/b2c/result/${id}`, 1);
      const r = params(hit!);
      assert.equal(r.resultCode, '0');
      // a Result names its request by both ids, as the acknowledgement returned them (b2cPayout believes nothing else)
      assert.equal(r.originatorConversationId, id);
      assert.equal(r.conversationId, ack.conversationId);
      const p = payoutOf(sim, id);
      assert.equal(p.paid, true);
      assert.equal(p.processed, true);
      assert.equal(p.amount, 150);
      assert.equal(p.phone, phone);
      assert.match(p.receipt ?? '', /^[A-Z0-9]{10}$/);
      assert.equal(r.parameters.TransactionReceipt, p.receipt);
      assert.equal(r.parameters.TransactionAmount, 150);
      assert.equal(r.parameters.ReceiverPartyPublicName, `${phone} - SANDBOX CUSTOMER`);
      assert.equal(p.delivery, 'result_url');
      assert.equal(p.source, phone === '254708374149' ? 'scenario' : 'default');
      // The receiver has the body before the simulator has its answer: wait for the attempt to settle.
      const settled = await waitUntil(() => {
        const x = payoutOf(sim, id);
        return x.callbacks[0]?.httpStatus ? x : undefined;
      });
      assert.deepEqual(
        settled.callbacks.map((c) => [c.target, c.ok, c.url]),
        [['ResultURL', true, `${rec.url}/b2c/result/${id}`]],
      );
      assert.equal(rec.on(`/b2c/timeout/${id}`).length, 0);
    });
  }

  const failures: Array<[string, number, string]> = [
    ['254710002040', 2040, 'The receiver is not a registered M-Pesa customer'],
    ['254710000001', 1, 'The balance is insufficient for the transaction.'],
  ];
  for (const [phone, code, desc] of failures) {
    it(`${phone}: fails ${code}, no money moves`, async () => {
      tested.add(phone);
      const id = newId(`f${code}`);
      const ack = await clientFor(sim).b2cPayment(payoutInput(rec, phone, id));
      const [hit] = await rec_wait(`/b2c/result/${id}`, 1);
      const r = params(hit!);
      assert.equal(r.resultCode, String(code));
      assert.equal(r.originatorConversationId, ack.originatorConversationId);
      assert.equal(r.conversationId, ack.conversationId);
      assert.equal(r.resultDesc, desc);
      assert.deepEqual(r.parameters, {}, 'no ResultParameters on failure');
      const p = payoutOf(sim, id);
      assert.equal(p.paid, false);
      assert.equal(p.processed, true);
      assert.equal(p.receipt, null);
      assert.equal(p.resultCode, code);
      const st = await statusByConversation(id);
      assert.equal(st.resultCode, 'R000001', 'a failed payout is not a completed transaction');
    });
  }

  it('254710009001: paid in silence; Transaction Status by OriginalConversationID and by receipt finds it', async () => {
    tested.add('254710009001');
    const id = newId('silent');
    await clientFor(sim).b2cPayment(payoutInput(rec, '254710009001', id, 320));
    await sleep(QUIET_MS);
    assert.equal(rec.on(`/b2c/result/${id}`).length, 0, 'no Result was sent');
    assert.equal(rec.on(`/b2c/timeout/${id}`).length, 0);
    const p = payoutOf(sim, id);
    assert.equal(p.paid, true);
    assert.equal(p.delivery, 'dropped');
    assert.deepEqual(p.callbacks, []);

    const st = await statusByConversation(id);
    assert.equal(st.resultCode, '0');
    const d = transactionStatusDetails(st);
    assert.equal(d.status, 'Completed');
    assert.equal(d.receipt, p.receipt);
    assert.equal(d.amount, 320);
    assert.equal(d.debitPartyName, '600000');
    assert.equal(d.creditPartyName, '254710009001 - SANDBOX CUSTOMER');
    assert.equal(d.reasonType, 'Business Payment to Customer via API');
    assert.equal(st.parameters.OriginatorConversationID, id);

    const byReceipt = await statusByReceipt(p.receipt!);
    assert.equal(transactionStatusDetails(byReceipt).receipt, p.receipt);
    assert.equal(transactionStatusDetails(byReceipt).status, 'Completed');

    const ledger = sim.sandbox.state.ledger();
    assert.equal(payoutOf(sim, id).statusQueries, 2);
    const queries = ledger.statusQueries.filter(
      (q) => q.found?.kind === 'b2c' && q.found.id === id && q.httpStatus === 200,
    );
    assert.equal(queries.length, 2);
  });

  it('254710009408: times out in the queue; the Result goes to QueueTimeOutURL; status says unknown', async () => {
    tested.add('254710009408');
    const id = newId('queue');
    const ack = await clientFor(sim).b2cPayment(payoutInput(rec, '254710009408', id));
    const [hit] = await rec_wait(`/b2c/timeout/${id}`, 1);
    const r = resultOf(hit!).Result;
    assert.equal(r.ResultCode, 1);
    assert.equal(r.ResultDesc, 'The service request timed out in the queue.');
    assert.equal(r.OriginatorConversationID, id);
    assert.equal(r.ConversationID, ack.conversationId);
    assert.equal(r.ResultParameters, undefined);
    await sleep(QUIET_MS);
    assert.equal(rec.on(`/b2c/result/${id}`).length, 0, 'nothing went to ResultURL');
    const p = payoutOf(sim, id);
    assert.equal(p.paid, false);
    assert.equal(p.processed, false);
    assert.equal(p.receipt, null);
    assert.equal(p.delivery, 'queue_timeout_url');
    assert.deepEqual(
      p.callbacks.map((c) => c.target),
      ['QueueTimeOutURL'],
    );
    const st = await statusByConversation(id);
    assert.equal(st.resultCode, 'R000001');
    assert.equal(transactionStatusDetails(st).receipt, undefined);
  });

  it('254710009500: answered HTTP 500, recorded as received, not processed, unknown to Transaction Status', async () => {
    tested.add('254710009500');
    const id = newId('e500');
    const err = await clientFor(sim)
      .b2cPayment(payoutInput(rec, '254710009500', id))
      .then(
        () => assert.fail('expected a 500'),
        (e: unknown) => e as DarajaError,
      );
    assert.ok(err instanceof DarajaError);
    assert.equal(err.httpStatus, 500);
    assert.equal(err.errorCode, '500.003.1001');
    const p = payoutOf(sim, id, 500);
    assert.equal(p.processed, false);
    assert.equal(p.paid, false);
    assert.equal(p.conversationId, null);
    assert.equal(p.delivery, 'none');
    assert.equal(p.amount, 150);
    await sleep(QUIET_MS);
    assert.equal(rec.hits.filter((h) => h.path.endsWith(id)).length, 0, 'no Result anywhere');
    const st = await statusByConversation(id);
    assert.equal(st.resultCode, 'R000001');
    const one = await getJson<{ paid: boolean; payout: unknown; requests: PayoutLedgerEntry[] }>(
      `${sim.url}/sandbox/__sandbox/ledger/payouts/${id}`,
    );
    assert.equal(one.status, 200);
    assert.equal(one.body.paid, false);
    assert.equal(one.body.payout, null);
    assert.equal(one.body.requests.length, 1);
    assert.equal(one.body.requests[0]!.httpStatus, 500);
  });

  it("254710009504: processed and paid, but the answer comes after the client's timeout (ambiguous)", async () => {
    tested.add('254710009504');
    const id = newId('slow');
    const err = await clientFor(sim, { timeoutMs: 150 })
      .b2cPayment(payoutInput(rec, '254710009504', id))
      .then(
        () => assert.fail('expected a timeout'),
        (e: unknown) => e as DarajaError,
      );
    assert.ok(err instanceof DarajaError);
    assert.equal(err.kind, 'ambiguous');
    const [hit] = await rec_wait(`/b2c/result/${id}`, 1);
    assert.equal(params(hit!).resultCode, '0');
    const p = payoutOf(sim, id);
    assert.equal(p.responseDelayed, true);
    assert.equal(p.paid, true);
    // A retry with the same OriginatorConversationID is refused: it was processed.
    const retry = await clientFor(sim, { timeoutMs: 2000 })
      .b2cPayment(payoutInput(rec, '254710009504', id))
      .then(
        () => assert.fail('expected a duplicate refusal'),
        (e: unknown) => e as DarajaError,
      );
    assert.equal(retry.errorCode, '500.002.1001');
    const dup = payoutOf(sim, id, 500);
    assert.equal(dup.source, 'duplicate');
    assert.equal(dup.paid, false);
    assert.equal(
      sim.sandbox.state.ledger().payouts.filter((x) => x.paid && x.originatorConversationId === id).length,
      1,
    );
  });

  it('a phone that is not a valid Kenyan MSISDN is refused 400 Invalid PartyB and recorded', async () => {
    const token = await clientFor(sim).getToken();
    const id = newId('bad');
    const r = await rawPost(sim, token, '/mpesa/b2c/v3/paymentrequest', {
      OriginatorConversationID: id,
      InitiatorName: 'testapi',
      SecurityCredential: CREDENTIAL,
      CommandID: 'BusinessPayment',
      Amount: 10,
      PartyA: 600000,
      PartyB: '0722000001',
      Remarks: 'Bad phone',
      QueueTimeOutURL: `${rec.url}/b2c/timeout/${id}`,
      ResultURL: `${rec.url}/b2c/result/${id}`,
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.errorMessage, 'Bad Request - Invalid PartyB');
    const l = sim.sandbox.state.ledger();
    assert.equal(l.payouts.filter((p) => p.originatorConversationId === id).length, 0);
    const rej = l.rejectedAsyncRequests.find((x) => x.request.OriginatorConversationID === id);
    assert.equal(rej?.endpoint, 'b2c_v3');
    assert.equal(rej?.errorMessage, 'Bad Request - Invalid PartyB');
  });

  it('a wrong SecurityCredential still gives 2001 in the Result; nothing paid', async () => {
    const id = newId('cred');
    const wrong = securityCredential('not-the-password', { path: SIMULATOR_CERT_PATH });
    await clientFor(sim).b2cPayment({ ...payoutInput(rec, '254722000101', id), securityCredential: wrong });
    const [hit] = await rec_wait(`/b2c/result/${id}`, 1);
    assert.equal(params(hit!).resultCode, '2001');
    assert.equal(payoutOf(sim, id).paid, false);
  });

  it('every B2C scenario phone in the table has a test above', () => {
    const untested = B2C_SCENARIOS.map((s) => s.phone).filter((p) => !tested.has(p));
    assert.deepEqual(untested, []);
  });

  it('the ledger never holds the SecurityCredential or the initiator password', async () => {
    const id = newId('secret');
    await clientFor(sim).b2cPayment(payoutInput(rec, '254722000102', id));
    await clientFor(sim).transactionStatus(statusInput(rec, newId('st'), { originalConversationId: id }));
    await clientFor(sim).accountBalance({
      initiatorName: 'testapi',
      securityCredential: CREDENTIAL,
      shortcode: '600000',
      resultUrl: `${rec.url}/balance/result`,
      queueTimeoutUrl: `${rec.url}/balance/timeout`,
      remarks: 'Balance',
    });
    const res = await fetch(`${sim.url}/sandbox/__sandbox/ledger`);
    const text = await res.text();
    const ledger = JSON.parse(text) as LedgerSnapshot;
    assert.ok(ledger.payouts.length > 0 && ledger.statusQueries.length > 0);
    assert.ok(!text.includes(CREDENTIAL), 'the credential is not in the ledger');
    assert.ok(!text.includes(CREDENTIAL.slice(0, 40)), 'not even a piece of it');
    assert.ok(!text.includes(DEFAULT_APP.initiatorPassword!), 'the initiator password is not in the ledger');
    assert.equal(payoutOf(sim, id).request.SecurityCredential, '[redacted]');
    assert.ok(ledger.asyncRequests.every((a) => a.request.SecurityCredential === '[redacted]'));
  });
});

// =====================================================================================================

describe('B2C and status fault rates at 1.0', () => {
  let sim: SandboxServer;
  let rec: Receiver;
  before(async () => {
    sim = await startSim({ callbackDelayMs: 30, duplicateCallbackGapMs: 60 });
    rec = await startReceiver();
  });
  after(async () => {
    await sim.close();
    await rec.close();
  });
  afterEach(() => sim.sandbox.state.reset());

  const setFaults = async (f: Record<string, number>) => {
    const r = await fetch(`${sim.url}/sandbox/__sandbox/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(f),
    });
    assert.equal(r.status, 200);
    return (await r.json()) as Record<string, number>;
  };

  it('the new fault names are accepted by POST /faults, default to 0 and are validated', async () => {
    const names = [
      'b2cRequestError500',
      'b2cResultDrop',
      'b2cResultDuplicate',
      'b2cQueueTimeout',
      'statusQueryError',
    ];
    for (const n of names)
      assert.equal(sim.sandbox.state.faults[n as keyof typeof sim.sandbox.state.faults], 0);
    const set = await setFaults(Object.fromEntries(names.map((n) => [n, 0.25])));
    for (const n of names) assert.equal(set[n], 0.25);
    const bad = await fetch(`${sim.url}/sandbox/__sandbox/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ b2cResultDrop: 1.5 }),
    });
    assert.equal(bad.status, 400);
  });

  it('b2cRequestError500: answered 500, not processed; the same id is accepted once the fault is off', async () => {
    await setFaults({ b2cRequestError500: 1 });
    const id = newId('f500');
    await assert.rejects(
      clientFor(sim).b2cPayment(payoutInput(rec, '254722000200', id)),
      (e: DarajaError) => e.httpStatus === 500 && e.errorCode === '500.003.1001',
    );
    const p = payoutOf(sim, id, 500);
    assert.deepEqual(p.faults, ['b2cRequestError500']);
    assert.equal(p.paid, false);
    await setFaults({ b2cRequestError500: 0 });
    await clientFor(sim).b2cPayment(payoutInput(rec, '254722000200', id));
    await waitUntil(() => (rec.on(`/b2c/result/${id}`).length === 1 ? true : undefined));
    const one = await getJson<{ paid: boolean; requests: PayoutLedgerEntry[] }>(
      `${sim.url}/sandbox/__sandbox/ledger/payouts/${id}`,
    );
    assert.equal(one.body.paid, true);
    assert.deepEqual(
      one.body.requests.map((r) => r.httpStatus),
      [500, 200],
    );
  });

  it('b2cResultDrop: paid, Result never sent', async () => {
    await setFaults({ b2cResultDrop: 1 });
    const id = newId('fdrop');
    await clientFor(sim).b2cPayment(payoutInput(rec, '254722000201', id));
    await sleep(QUIET_MS);
    assert.equal(rec.on(`/b2c/result/${id}`).length, 0);
    const p = payoutOf(sim, id);
    assert.equal(p.paid, true);
    assert.equal(p.delivery, 'dropped');
    assert.deepEqual(p.faults, ['b2cResultDrop']);
  });

  it('b2cResultDuplicate: the same Result is sent twice', async () => {
    await setFaults({ b2cResultDuplicate: 1 });
    const id = newId('fdup');
    await clientFor(sim).b2cPayment(payoutInput(rec, '254722000202', id));
    const hits = await waitUntil(() =>
      rec.on(`/b2c/result/${id}`).length === 2 ? rec.on(`/b2c/result/${id}`) : undefined,
    );
    assert.deepEqual(hits[0]!.body, hits[1]!.body);
    const p = payoutOf(sim, id);
    assert.equal(p.callbacks.length, 2);
    assert.equal(params(hits[0]!).parameters.TransactionReceipt, p.receipt);
    await sleep(QUIET_MS);
    assert.equal(rec.on(`/b2c/result/${id}`).length, 2, 'exactly twice');
  });

  it('b2cQueueTimeout: Result to QueueTimeOutURL, nothing paid', async () => {
    await setFaults({ b2cQueueTimeout: 1 });
    const id = newId('fq');
    await clientFor(sim).b2cPayment(payoutInput(rec, '254722000203', id));
    await waitUntil(() => (rec.on(`/b2c/timeout/${id}`).length === 1 ? true : undefined));
    await sleep(QUIET_MS);
    assert.equal(rec.on(`/b2c/result/${id}`).length, 0);
    const p = payoutOf(sim, id);
    assert.equal(p.paid, false);
    assert.deepEqual(p.faults, ['b2cQueueTimeout']);
  });

  it('statusQueryError: Transaction Status and Account Balance answered 500, recorded, no Result', async () => {
    await setFaults({ statusQueryError: 1 });
    const tag = newId('fst');
    await assert.rejects(
      clientFor(sim).transactionStatus(statusInput(rec, tag, { receipt: 'SAB1234567' })),
      (e: DarajaError) => e.httpStatus === 500,
    );
    await assert.rejects(
      clientFor(sim).accountBalance({
        initiatorName: 'testapi',
        securityCredential: CREDENTIAL,
        shortcode: '600000',
        resultUrl: `${rec.url}/balance/result/${tag}`,
        queueTimeoutUrl: `${rec.url}/balance/timeout/${tag}`,
        remarks: 'Balance',
      }),
      (e: DarajaError) => e.httpStatus === 500,
    );
    await sleep(QUIET_MS);
    assert.equal(rec.hits.filter((h) => h.path.endsWith(tag)).length, 0);
    const q = sim.sandbox.state.ledger().statusQueries;
    assert.deepEqual(
      q.map((x) => [x.kind, x.httpStatus, x.transactionId]),
      [
        ['transaction_status', 500, 'SAB1234567'],
        ['account_balance', 500, null],
      ],
    );
    assert.equal(sim.sandbox.state.ledger().asyncRequests.length, 0, 'not processed');
  });

  it('fault draws are seeded: the same seed gives the same B2C plans', () => {
    const plans = [1, 2].map(() => {
      const s = new SandboxState({ seed: 99 });
      s.setFaults({
        b2cRequestError500: 0.3,
        b2cResultDrop: 0.3,
        b2cResultDuplicate: 0.3,
        b2cQueueTimeout: 0.3,
      });
      return Array.from({ length: 20 }, () => s.planPayout('254722000300').faults.join(','));
    });
    assert.deepEqual(plans[0], plans[1]);
    assert.ok(new Set(plans[0]).size > 2, 'the faults actually vary');
  });
});

// =====================================================================================================

describe('C2B customer payments: control API and Daraja simulate', () => {
  let sim: SandboxServer;
  let rec: Receiver;
  let token: string;
  before(async () => {
    sim = await startSim({
      callbackDelayMs: 30,
      c2bValidationTimeoutMs: 300,
      c2bConfirmationRetryMs: 40,
      c2bConfirmationAttempts: 4,
    });
    rec = await startReceiver();
    token = await clientFor(sim).getToken();
  });
  after(async () => {
    await sim.close();
    await rec.close();
  });

  const register = async (
    shortcode: string,
    responseType: 'Completed' | 'Cancelled',
    validationUrl?: string,
  ) => {
    const r = await rawPost(sim, token, '/mpesa/c2b/v2/registerurl', {
      ShortCode: shortcode,
      ResponseType: responseType,
      ConfirmationURL: `${rec.url}/c2b/${shortcode}/confirm`,
      ValidationURL: validationUrl ?? `${rec.url}/c2b/${shortcode}/validate`,
    });
    assert.equal(r.status, 200);
  };
  const ctlPay = async (body: Record<string, unknown>) => {
    const r = await fetch(`${sim.url}/sandbox/__sandbox/c2b/payments`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const entryFor = (transId: string): C2bPaymentLedgerEntry => {
    const e = sim.sandbox.state.ledger().c2bPayments.find((p) => p.transId === transId);
    assert.ok(e, `C2B ${transId} is in the ledger`);
    return e;
  };
  /** Pays through one entry point; returns the TransID once decided. */
  async function pay(
    via: 'control' | 'simulate',
    shortcode: string,
    amount: number,
    phone: string,
    billRef: string,
  ): Promise<{ transId: string; controlAnswer?: Record<string, unknown> }> {
    if (via === 'control') {
      const r = await ctlPay({ shortcode, amount, phone, billRefNumber: billRef });
      assert.equal(r.status, 200);
      return { transId: String(r.body.transId), controlAnswer: r.body };
    }
    const r = await rawPost(sim, token, '/mpesa/c2b/v2/simulate', {
      ShortCode: shortcode,
      CommandID: 'CustomerPayBillOnline',
      Amount: amount,
      Msisdn: phone,
      BillRefNumber: billRef,
    });
    assert.equal(r.status, 200);
    assert.equal(r.body.ResponseCode, '0');
    assert.equal(r.body.ResponseDescription, 'Accept the service request successfully.');
    assert.match(String(r.body.OriginatorCoversationID), /\S/);
    const e = await waitUntil(() =>
      sim.sandbox.state
        .ledger()
        .c2bPayments.find(
          (p) => p.originatorConversationId === r.body.OriginatorCoversationID && p.accepted !== null,
        ),
    );
    return { transId: e.transId };
  }

  for (const via of ['control', 'simulate'] as const) {
    const sc = (n: number) => `${via === 'control' ? '601' : '602'}${String(n).padStart(3, '0')}`;

    it(`${via}: an accepting ValidationURL → paid, confirmation with balance and ThirdPartyTransID`, async () => {
      const shortcode = sc(1);
      await register(shortcode, 'Cancelled');
      rec.answers.set(`/c2b/${shortcode}/validate`, () => ({
        body: { ResultCode: '0', ResultDesc: 'Accepted', ThirdPartyTransID: 'ORDER-77' },
      }));
      const { transId, controlAnswer } = await pay(via, shortcode, 10, '254708374149', 'INV0042');
      if (controlAnswer) {
        assert.equal(controlAnswer.accepted, true);
        assert.deepEqual(controlAnswer.validationReply, {
          ResultCode: '0',
          ResultDesc: 'Accepted',
          ThirdPartyTransID: 'ORDER-77',
        });
      }
      const [validation] = rec.on(`/c2b/${shortcode}/validate`);
      assert.deepEqual(validation!.body, {
        TransactionType: 'Pay Bill',
        TransID: transId,
        TransTime: validation!.body.TransTime,
        TransAmount: '10.00',
        BusinessShortCode: shortcode,
        BillRefNumber: 'INV0042',
        InvoiceNumber: '',
        OrgAccountBalance: '',
        ThirdPartyTransID: '',
        MSISDN: '2547 ***** 149',
        FirstName: 'SANDBOX',
        MiddleName: '',
        LastName: 'CUSTOMER',
      });
      assert.match(transId, /^[A-Z0-9]{10}$/);
      assert.match(String(validation!.body.TransTime), /^20\d{12}$/);
      const [confirm] = await waitUntil(() =>
        rec.on(`/c2b/${shortcode}/confirm`).length === 1 ? rec.on(`/c2b/${shortcode}/confirm`) : undefined,
      );
      assert.equal(confirm!.body.TransID, transId);
      assert.equal(confirm!.body.OrgAccountBalance, '10.00');
      assert.equal(confirm!.body.ThirdPartyTransID, 'ORDER-77');
      assert.equal(confirm!.body.MSISDN, '2547 ***** 149');
      const e = await waitUntil(() =>
        entryFor(transId).confirmation.delivered ? entryFor(transId) : undefined,
      );
      assert.equal(e.accepted, true);
      assert.equal(e.decidedBy, 'validation');
      assert.equal(e.phone, '254708374149', 'the ledger keeps the full phone');
      assert.equal(e.via, via);
      assert.equal(e.thirdPartyTransId, 'ORDER-77');
      assert.equal(e.confirmation.attempts.length, 1);
    });

    it(`${via}: a rejecting ValidationURL (C2B00012) → not paid, no confirmation`, async () => {
      const shortcode = sc(2);
      await register(shortcode, 'Completed');
      rec.answers.set(`/c2b/${shortcode}/validate`, () => ({
        body: { ResultCode: 'C2B00012', ResultDesc: 'Rejected' },
      }));
      const { transId, controlAnswer } = await pay(via, shortcode, 25, '254722000400', 'WRONG-ACC');
      if (controlAnswer) {
        assert.equal(controlAnswer.accepted, false);
        assert.deepEqual(controlAnswer.validationReply, { ResultCode: 'C2B00012', ResultDesc: 'Rejected' });
      }
      await sleep(QUIET_MS);
      assert.equal(rec.on(`/c2b/${shortcode}/confirm`).length, 0, 'no confirmation');
      const e = entryFor(transId);
      assert.equal(e.accepted, false);
      assert.equal(e.validation.outcome, 'rejected');
      assert.equal(e.validation.resultCode, 'C2B00012');
      assert.equal(e.orgAccountBalance, null);
      assert.equal(e.confirmation.request, null);
      // A rejected payment does not exist for Transaction Status.
      const tag = newId('c2bst');
      await clientFor(sim).transactionStatus(statusInput(rec, tag, { receipt: transId }));
      const [st] = await waitUntil(() =>
        rec.on(`/status/result/${tag}`).length ? rec.on(`/status/result/${tag}`) : undefined,
      );
      assert.equal(params(st!).resultCode, 'R000001');
    });

    for (const responseType of ['Completed', 'Cancelled'] as const) {
      it(`${via}: an unreachable ValidationURL → ResponseType ${responseType} decides`, async () => {
        const shortcode = sc(responseType === 'Completed' ? 3 : 4);
        await register(shortcode, responseType, 'http://127.0.0.1:9/validate');
        const { transId, controlAnswer } = await pay(via, shortcode, 40, '254722000401', 'ACC1');
        const accepted = responseType === 'Completed';
        if (controlAnswer) {
          assert.equal(controlAnswer.accepted, accepted);
          assert.equal(controlAnswer.validationReply, null);
          assert.equal(controlAnswer.validationOutcome, 'unreachable');
        }
        const e = entryFor(transId);
        assert.equal(e.validation.outcome, 'unreachable');
        assert.equal(e.validation.attempt?.ok, false);
        assert.equal(e.decidedBy, 'response_type');
        assert.equal(e.accepted, accepted);
        if (accepted) {
          const [confirm] = await waitUntil(() =>
            rec.on(`/c2b/${shortcode}/confirm`).length ? rec.on(`/c2b/${shortcode}/confirm`) : undefined,
          );
          assert.equal(confirm!.body.TransID, transId);
        } else {
          await sleep(QUIET_MS);
          assert.equal(rec.on(`/c2b/${shortcode}/confirm`).length, 0);
        }
      });
    }
  }

  it('a ValidationURL slower than c2bValidationTimeoutMs → timeout, ResponseType applies', async () => {
    await register('603001', 'Completed');
    rec.answers.set('/c2b/603001/validate', () => ({ delayMs: 800, body: { ResultCode: 'C2B00016' } }));
    const r = await ctlPay({ shortcode: '603001', amount: 5, phone: '0722000402' });
    assert.equal(r.status, 200);
    assert.equal(r.body.accepted, true);
    assert.equal(r.body.validationOutcome, 'timeout');
    assert.equal(r.body.decidedBy, 'response_type');
    await waitUntil(() => (rec.on('/c2b/603001/confirm').length ? true : undefined));
    assert.equal(entryFor(String(r.body.transId)).phone, '254722000402');
  });

  it('a ConfirmationURL answering 500 is retried with backoff until 2xx', async () => {
    await register('603002', 'Cancelled');
    rec.answers.set('/c2b/603002/confirm', (n) => ({ status: n < 3 ? 500 : 200 }));
    const r = await ctlPay({
      shortcode: '603002',
      amount: 7,
      phone: '254722000403',
      transactionType: 'Buy Goods',
    });
    assert.equal(r.body.accepted, true);
    const transId = String(r.body.transId);
    const e = await waitUntil(() =>
      entryFor(transId).confirmation.delivered ? entryFor(transId) : undefined,
    );
    assert.deepEqual(
      e.confirmation.attempts.map((a) => a.httpStatus),
      [500, 500, 200],
    );
    assert.equal(e.transactionType, 'Buy Goods');
    assert.equal(rec.on('/c2b/603002/confirm')[0]!.body.TransactionType, 'Buy Goods');
    const one = await getJson<C2bPaymentLedgerEntry>(`${sim.url}/sandbox/__sandbox/ledger/c2b/${transId}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.confirmation.attempts.length, 3);
  });

  it('the latest registration for a shortcode wins', async () => {
    await register('603003', 'Completed', `${rec.url}/c2b/603003/old-validate`);
    await register('603003', 'Completed', `${rec.url}/c2b/603003/new-validate`);
    const r = await ctlPay({ shortcode: '603003', amount: 3, phone: '254722000404' });
    assert.equal(r.body.accepted, true);
    assert.equal(rec.on('/c2b/603003/old-validate').length, 0);
    assert.equal(rec.on('/c2b/603003/new-validate').length, 1);
  });

  it('no registration: control API 409 JSON, simulate a Daraja envelope; bad input refused', async () => {
    const c = await ctlPay({ shortcode: '609999', amount: 3, phone: '254722000405' });
    assert.equal(c.status, 409);
    assert.match(String(c.body.error), /no C2B URLs registered for shortcode 609999/);
    const s = await rawPost(sim, token, '/mpesa/c2b/v1/simulate', {
      ShortCode: 609999,
      CommandID: 'CustomerPayBillOnline',
      Amount: 3,
      Msisdn: 254722000405,
      BillRefNumber: 'X',
    });
    assert.equal(s.status, 500);
    assert.equal(s.body.errorCode, '500.003.1001');
    assert.match(String(s.body.requestId), /^\d{4}-\d{8}-\d$/);
    const badCmd = await rawPost(sim, token, '/mpesa/c2b/v1/simulate', {
      ShortCode: 601001,
      CommandID: 'PayBill',
      Amount: 3,
      Msisdn: 254722000405,
    });
    assert.equal(badCmd.body.errorMessage, 'Bad Request - Invalid CommandID');
    const noAuth = await fetch(`${sim.url}/mpesa/c2b/v2/simulate`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    assert.equal(noAuth.status, 404);
    assert.equal((await ctlPay({ shortcode: '601001', amount: 1.5, phone: '254722000405' })).status, 400);
    assert.equal((await ctlPay({ shortcode: '601001', amount: 1, phone: '12345' })).status, 400);
    const l = sim.sandbox.state.ledger();
    assert.ok(
      l.c2bPayments.every((p) => p.shortcode !== '609999'),
      'nothing paid to an unregistered shortcode',
    );
    assert.deepEqual(
      l.rejectedAsyncRequests.filter((x) => x.endpoint === 'c2b_simulate').map((x) => x.httpStatus),
      [500, 400],
    );
  });

  it('Transaction Status finds an STK receipt and an accepted C2B TransID; Account Balance still answers', async () => {
    const rec2 = rec;
    const stk = await clientFor(sim).stkPush({
      shortcode: '174379',
      passkey: SANDBOX_PASSKEY,
      type: 'paybill',
      amount: 9,
      phone: '254708374149',
      callbackUrl: `${rec2.url}/stk/cb`,
      accountReference: 'TS1',
      description: 'Status',
    });
    const push = await waitUntil(() => {
      const e = sim.sandbox.state.entry(stk.checkoutRequestId);
      return e?.receipt ? e : undefined;
    });
    await register('603004', 'Completed');
    const paid = await ctlPay({
      shortcode: '603004',
      amount: 61,
      phone: '254722000406',
      billRefNumber: 'B1',
    });
    const cases: Array<[string, number, string, string]> = [
      [push.receipt!, 9, 'Pay Bill Online', '254708374149 - SANDBOX CUSTOMER'],
      [String(paid.body.transId), 61, 'Pay Bill', '254722000406 - SANDBOX CUSTOMER'],
    ];
    for (const [receipt, amount, reason, debit] of cases) {
      const tag = newId('ts');
      await clientFor(sim).transactionStatus(statusInput(rec, tag, { receipt }));
      const [hit] = await waitUntil(() =>
        rec.on(`/status/result/${tag}`).length ? rec.on(`/status/result/${tag}`) : undefined,
      );
      const d = transactionStatusDetails(params(hit!));
      assert.equal(d.receipt, receipt);
      assert.equal(d.amount, amount);
      assert.equal(d.reasonType, reason);
      assert.equal(d.debitPartyName, debit);
      assert.equal(d.status, 'Completed');
    }
    const found = sim.sandbox.state.ledger().statusQueries.map((q) => q.found?.kind);
    assert.deepEqual(found.slice(-2), ['stk', 'c2b']);
    assert.equal(entryFor(String(paid.body.transId)).statusQueries, 1);

    await clientFor(sim).accountBalance({
      initiatorName: 'testapi',
      securityCredential: CREDENTIAL,
      shortcode: '600000',
      resultUrl: `${rec.url}/balance/result/ok`,
      queueTimeoutUrl: `${rec.url}/balance/timeout/ok`,
      remarks: 'Balance',
    });
    const [bal] = await waitUntil(() =>
      rec.on('/balance/result/ok').length ? rec.on('/balance/result/ok') : undefined,
    );
    assert.match(String(params(bal!).parameters.AccountBalance), /^Working Account\|KES\|/);
  });

  it('reset forgets C2B payments, payouts and status queries', async () => {
    assert.ok(sim.sandbox.state.ledger().c2bPayments.length > 0);
    sim.sandbox.state.reset();
    const l = sim.sandbox.state.ledger();
    assert.deepEqual(
      [l.c2bPayments.length, l.payouts.length, l.statusQueries.length, l.c2bRegistrations.length],
      [0, 0, 0, 0],
    );
  });
});
