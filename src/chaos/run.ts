/**
 * `malipo chaos`: drives STK payments across every scenario phone, B2C payouts across every B2C
 * scenario phone and C2B confirmations (duplicated and reordered) on a stack of separate processes
 * (Temporal dev server on a SQLite file, API and worker processes, PostgreSQL), with the simulator
 * and a flaky webhook receiver in this process, while injecting faults, forged callbacks and SIGKILLs.
 * Then it checks the invariants against the simulator's ledger, the database and the receiver's log.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../db';
import { callbackToken } from '../payments/callback-token';
import { createChannel, DEVELOPMENT_CHANNEL_POLICY } from '../platform/channels';
import { createApiKey, OPERATOR } from '../platform/keys';
import { createMerchant } from '../platform/merchants';
import { parseEncryptionKey, SecretBox } from '../platform/secret-box';
import { DEV_C2B_SHORTCODE } from '../c2b/dev';
import type { StkPaymentState } from '../domain/stk';
import { SCENARIOS, startSandboxServer } from '../sandbox';
import { freePort, startDevServer, type DevServer } from '../temporal/dev-server';
import { verifyWebhook } from '../webhooks';
import {
  createDatabase,
  dropDatabase,
  linesMentioning,
  type MalipoProcess,
  postgresServer,
  spawnMalipo,
} from './processes';
import { simulatorChannelInput } from '../admin/dev-bootstrap';
import { c2bFlow } from './c2b';
import { type ChaosContext, type Flow, type FlowCheck, type Json, kindTable } from './kinds';
import { payoutFlow } from './payouts';
import {
  CHAOS_RECONCILE_SCALE,
  pushFault,
  reconcileBudgetMs,
  reviewSnapshot,
  reviewTable,
  stayedInReview,
  waitForWorkflowsToEnd,
} from './reconcile';
import { Client, Connection } from '@temporalio/client';

export interface ChaosOptions {
  payments: number;
  /** B2C payouts to drive beside the payments (default 0). */
  payouts?: number | undefined;
  /** C2B customer payments to drive beside the payments (default 0). */
  c2b?: number | undefined;
  databaseUrl?: string | undefined;
  workers: number;
  apis: number;
  workerKills: number;
  apiKills: number;
  temporalRestarts: number;
  concurrency: number;
  seed: number;
  deadlineSeconds: number;
  /**
   * Go on past the deadline until every payment and payout in review has had its reconciliation, on
   * a schedule compressed by {@link CHAOS_RECONCILE_SCALE}, and report needs_review before and after.
   */
  reconcile?: boolean | undefined;
  log?: (line: string) => void;
}

export interface ChaosResult {
  violations: string[];
  table: string;
  wallSeconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The STK and payout grace windows of the chaos stack (MALIPO_STK_GRACE_SECONDS, MALIPO_PAYOUT_GRACE_SECONDS). */
const GRACE_SECONDS = 120;

/** How often the simulator POSTs a C2B confirmation until answered 2xx: its backoff (1 s, doubling) then spans about two minutes, longer than any API restart. */
const C2B_CONFIRMATION_ATTEMPTS = 8;

interface Window {
  what: string;
  from: number;
  to: number;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(`[chaos] ${l}\n`));
  const t0 = Date.now();
  const violations: string[] = [];
  const violate = (v: string) => {
    if (violations.length < 10_000) violations.push(v);
  };
  const cleanups: Array<() => Promise<unknown>> = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'malipo-chaos-'));
  const procs: MalipoProcess[] = [];
  const windows: Window[] = [];
  const counters = {
    workerKills: 0,
    apiKills: 0,
    temporalRestarts: 0,
    forgedWrongToken: 0,
    forgedWrongTokenAccepted: 0,
    forgedSuccess: 0,
    idempotentReplays: 0,
    apiRetries: 0,
    api5xx: 0,
    api5xxInWindows: 0,
    receiver500: 0,
    receiverHung: 0,
    receiverOk: 0,
  };
  try {
    // ---- the stack -------------------------------------------------------------------------------
    const pg = await postgresServer(o.databaseUrl ?? process.env.MALIPO_TEST_DATABASE_URL);
    cleanups.push(() => pg.stop());
    const dbName = `malipo_chaos_${crypto.randomBytes(5).toString('hex')}`;
    const dbUrl = await createDatabase(pg.url, dbName);
    cleanups.push(() => dropDatabase(pg.url, dbName));
    const db = await openDatabase({ url: dbUrl });
    cleanups.push(() => db.close());

    const temporalPort = await freePort();
    const dbFile = path.join(dir, 'temporal.db');
    let temporal: DevServer = await startDevServer({ dbFile, port: temporalPort, uiPort: null });
    cleanups.push(() => temporal.stop());

    const sandbox = await startSandboxServer({
      port: 0,
      seed: o.seed,
      callbackDelayMs: 300,
      duplicateCallbackGapMs: 250,
      lateCallbackDelayMs: 6000,
      slowResponseMs: 6000,
      promptTimeoutMs: 120_000,
      c2bConfirmationAttempts: C2B_CONFIRMATION_ATTEMPTS,
      c2bConfirmationRetryMs: 1000,
    });
    cleanups.push(() => sandbox.close());
    const state = sandbox.sandbox.state;

    // the receiver: 500 to 30 %, never answers 5 %
    const received: Array<{ id: string; body: string; headers: http.IncomingHttpHeaders }> = [];
    const hung: http.ServerResponse[] = [];
    const receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({
          id: String(req.headers['webhook-id']),
          body: Buffer.concat(chunks).toString(),
          headers: req.headers,
        });
        const r = Math.random();
        if (r < 0.05) {
          counters.receiverHung++;
          hung.push(res);
        } else if (r < 0.35) {
          counters.receiver500++;
          res.statusCode = 500;
          res.end();
        } else {
          counters.receiverOk++;
          res.statusCode = 204;
          res.end();
        }
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    cleanups.push(async () => {
      for (const h of hung) h.destroy();
      receiver.closeAllConnections();
      await new Promise((r) => receiver.close(() => r(undefined)));
    });
    const recvUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

    const encryptionKey = crypto.randomBytes(32).toString('hex');
    const callbackSecret = crypto.randomBytes(32).toString('hex');
    const box = new SecretBox(parseEncryptionKey(encryptionKey));
    const apiPorts = await Promise.all(Array.from({ length: o.apis }, () => freePort()));
    const apiUrls = apiPorts.map((p) => `http://127.0.0.1:${p}`);
    const baseEnv: Record<string, string> = {
      MALIPO_MODE: 'development',
      LOG_LEVEL: 'info',
      DATABASE_URL: dbUrl,
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
      TEMPORAL_TASK_QUEUE: 'malipo-chaos',
      MALIPO_ENCRYPTION_KEY: encryptionKey,
      MALIPO_CALLBACK_SECRET: callbackSecret,
      // Daraja's callbacks go to the first API (a killed API loses them: the STK query reconciles)
      MALIPO_PUBLIC_URL: apiUrls[0] as string,
      MALIPO_WEBHOOK_SCHEDULE_SCALE: '0.001',
      MALIPO_STK_DEADLINE_SECONDS: String(o.deadlineSeconds),
      MALIPO_STK_GRACE_SECONDS: String(GRACE_SECONDS),
      ...(o.reconcile ? { MALIPO_RECONCILE_SCHEDULE_SCALE: String(CHAOS_RECONCILE_SCALE) } : {}),
      // payouts settle within about a minute, like the STK deadline: 20 s for the Result, then three
      // Transaction Status requests of 10 s each, 2 s and 4 s apart
      MALIPO_PAYOUT_RESULT_WAIT_SECONDS: '20',
      MALIPO_PAYOUT_STATUS_WAIT_SECONDS: '10',
      MALIPO_PAYOUT_STATUS_RETRY_SECONDS: '2',
      MALIPO_PAYOUT_GRACE_SECONDS: String(GRACE_SECONDS),
      MALIPO_INITIATION_WAIT_MS: '8000',
      MALIPO_DARAJA_TIMEOUT_MS: '3000',
      MALIPO_RATE_LIMIT_CREATE_PER_MINUTE: '1000000',
      MALIPO_RATE_LIMIT_PER_MINUTE: '1000000',
      MALIPO_SANDBOX: 'false',
      MALIPO_DATA_DIR: dir,
    };
    const startApi = async (i: number) => {
      const p = spawnMalipo(`api${i}`, ['api'], { ...baseEnv, PORT: String(apiPorts[i]), HOST: '127.0.0.1' });
      procs.push(p);
      await p.waitFor(/api listening/, 120_000);
      return p;
    };
    const startWorker = async (i: number) => {
      const p = spawnMalipo(`worker${i}`, ['worker'], baseEnv);
      procs.push(p);
      await p.waitFor(/worker running/, 180_000);
      return p;
    };
    cleanups.push(async () => {
      for (const p of procs) await p.kill('SIGKILL');
    });
    log(`starting ${o.apis} API and ${o.workers} worker processes`);
    const apis = await Promise.all(Array.from({ length: o.apis }, (_, i) => startApi(i)));
    const workers = await Promise.all(Array.from({ length: o.workers }, (_, i) => startWorker(i)));

    const actor = { actor: 'chaos' };
    const merchant = await createMerchant(db.db, { name: 'Chaos shop' }, actor);
    await createChannel(
      db.db,
      box,
      merchant.id,
      simulatorChannelInput(`${sandbox.url}/sandbox/daraja`),
      actor,
      DEVELOPMENT_CHANNEL_POLICY,
    );
    const key = (
      await createApiKey(
        db.db,
        box,
        { merchantId: merchant.id, environment: 'test', scopes: ['*'] },
        actor,
        OPERATOR,
      )
    ).key;

    const call = async (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => {
      const base = apiUrls[Math.floor(Math.random() * apiUrls.length)] as string;
      const res = await fetch(base + p, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      let parsed: Json;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.status, body: parsed, text };
    };
    const inWindow = (at: number) => windows.some((w) => at >= w.from - 1000 && at <= w.to + 2000);

    const ep = await call('POST', '/v1/webhook-endpoints', { url: `${recvUrl}/hook`, events: ['*'] });
    if (ep.status !== 201) throw new Error(`could not register the receiver: ${ep.status} ${ep.text}`);
    const endpointSecret: string = ep.body.secret;

    const run = crypto.randomBytes(3).toString('hex');
    /** POSTs a create request with its key until accepted, as a client would; undefined after a violation. */
    const submit = async (
      label: string,
      p: string,
      body: unknown,
      idem: string,
    ): Promise<Json | undefined> => {
      for (let attempt = 0; ; attempt++) {
        let r: Awaited<ReturnType<typeof call>> | undefined;
        try {
          r = await call('POST', p, body, { 'idempotency-key': idem });
        } catch {
          r = undefined;
        }
        if (r && r.status >= 500) {
          counters.api5xx++;
          if (inWindow(Date.now())) counters.api5xxInWindows++;
          else {
            const lines = await linesMentioning(procs, String(r.body?.requestId ?? ''));
            const logged = lines.length > 0 ? `; logged: ${lines.join(' | ').slice(0, 4000)}` : '';
            violate(`API ${r.status} outside a kill window for ${label}: ${r.text.slice(0, 200)}${logged}`);
          }
        }
        if (r && r.status === 202) return r.body;
        if (r && r.status >= 400 && r.status < 500 && r.status !== 409 && r.status !== 429) {
          violate(`${label} refused ${r.status}: ${r.text.slice(0, 200)}`);
          return undefined;
        }
        if (attempt > 60) {
          violate(`${label} never accepted`);
          return undefined;
        }
        counters.apiRetries++;
        await sleep(500 + attempt * 250);
      }
    };
    const ctx: ChaosContext = {
      db: db.db,
      state,
      merchantId: merchant.id,
      run,
      call,
      submit,
      violate,
      hookBase: apiUrls[0] as string,
      callbackSecret,
    };
    const payoutCount = o.payouts ?? 0;
    const c2bCount = o.c2b ?? 0;
    const payouts = payoutFlow(ctx);
    let c2b: ReturnType<typeof c2bFlow> | undefined;
    if (c2bCount > 0) {
      // a C2B paybill beside the STK channel (174379 is STK-only), its URLs registered with the simulator
      const channel = await createChannel(
        db.db,
        box,
        merchant.id,
        {
          ...simulatorChannelInput(`${sandbox.url}/sandbox/daraja`),
          name: 'Chaos C2B paybill',
          shortcode: DEV_C2B_SHORTCODE,
          isDefault: false,
        },
        actor,
        DEVELOPMENT_CHANNEL_POLICY,
      );
      const reg = await call('POST', `/v1/channels/${channel.id}/c2b/register`, {
        responseType: 'Completed',
      });
      if (reg.status !== 200) throw new Error(`could not register the C2B URLs: ${reg.status} ${reg.text}`);
      c2b = c2bFlow(ctx, {
        sandboxUrl: sandbox.url,
        channelId: channel.id,
        shortcode: DEV_C2B_SHORTCODE,
        confirmationAttempts: C2B_CONFIRMATION_ATTEMPTS,
      });
    }
    const flows: Array<{ kind: string; flow: Flow }> = [
      ...(payoutCount > 0 ? [{ kind: 'b2c', flow: payouts }] : []),
      ...(c2b ? [{ kind: 'c2b', flow: c2b }] : []),
    ];

    // faults from here on
    state.setFaults({
      pushError: 0.1,
      dropCallback: 0.2,
      duplicateCallback: 0.1,
      lateCallback: 0.1,
      queryError: 0.05,
      ambiguousPush: 0.02,
      b2cRequestError500: 0.05,
      b2cResultDrop: 0.15,
      b2cResultDuplicate: 0.1,
      b2cQueueTimeout: 0.05,
      statusQueryError: 0.05,
    });

    // ---- the chaos schedule ------------------------------------------------------------------------
    const events: Array<{ at: number; run: () => Promise<void> }> = [];
    const frac = (k: number, n: number) => (k + 1) / (n + 1);
    for (let k = 0; k < o.workerKills; k++) {
      events.push({
        at: frac(k, o.workerKills),
        run: async () => {
          const i = k % workers.length;
          log(`SIGKILL worker${i}`);
          await workers[i]?.kill('SIGKILL');
          counters.workerKills++;
          await sleep(2000);
          workers[i] = await startWorker(i);
        },
      });
    }
    for (let k = 0; k < o.apiKills; k++) {
      events.push({
        at: frac(k, o.apiKills) * 0.9 + 0.03,
        run: async () => {
          const i = (k + 1) % apis.length;
          const w: Window = { what: `api${i} kill`, from: Date.now(), to: Number.POSITIVE_INFINITY };
          windows.push(w);
          log(`SIGKILL api${i}`);
          await apis[i]?.kill('SIGKILL');
          counters.apiKills++;
          await sleep(1000);
          apis[i] = await startApi(i);
          w.to = Date.now();
        },
      });
    }
    for (let k = 0; k < o.temporalRestarts; k++) {
      events.push({
        at: 0.5 + k * 0.1,
        run: async () => {
          const w: Window = { what: 'temporal restart', from: Date.now(), to: Number.POSITIVE_INFINITY };
          windows.push(w);
          log('restarting the Temporal dev server (SIGKILL, same SQLite file)');
          temporal.process.kill('SIGKILL');
          await new Promise((r) =>
            temporal.process.exitCode !== null ? r(undefined) : temporal.process.once('exit', r),
          );
          temporal = await startDevServer({
            dbFile,
            port: temporalPort,
            uiPort: null,
            readyTimeoutMs: 60_000,
          });
          counters.temporalRestarts++;
          w.to = Date.now();
        },
      });
    }
    events.sort((a, b) => a.at - b.at);

    // ---- driving -------------------------------------------------------------------------------------
    const created = new Map<number, { id: string; amount: number; phone: string }>();
    const extraIds = new Set<string>();
    const sent = { n: 0 };
    const chaosTasks: Array<Promise<void>> = [];
    let next = 0;
    const drive = async (i: number) => {
      const sc = SCENARIOS[i % SCENARIOS.length] as (typeof SCENARIOS)[number];
      const body = { phone: sc.phone, amount: 10 + (i % 97), reference: `CH${run}${i}`.slice(0, 12) };
      const idem = `chaos-${run}-${i}`;
      const accepted = await submit(`payment #${i}`, '/v1/payments/stk-push', body, idem);
      if (!accepted) return;
      created.set(i, { id: accepted.id, amount: body.amount, phone: sc.phone });
      // every 10th: a retry after success must replay the same payment
      if (i % 10 === 0) {
        try {
          const again = await call('POST', '/v1/payments/stk-push', body, { 'idempotency-key': idem });
          counters.idempotentReplays++;
          if (again.status === 202 && again.body.id !== created.get(i)?.id) extraIds.add(again.body.id);
        } catch {
          // an API kill: fine
        }
      }
    };
    // payments, payouts and C2B payments interleaved evenly, so every kind meets every fault and kill
    const jobs: Array<{ at: number; run: () => Promise<void> }> = [
      ...Array.from({ length: o.payments }, (_, i) => ({ at: (i + 0.5) / o.payments, run: () => drive(i) })),
      ...Array.from({ length: payoutCount }, (_, j) => ({
        at: (j + 0.5) / payoutCount,
        run: () => payouts.drive(j),
      })),
      ...Array.from({ length: c2bCount }, (_, k) => ({
        at: (k + 0.5) / c2bCount,
        run: () => (c2b as NonNullable<typeof c2b>).drive(k),
      })),
    ].sort((a, b) => a.at - b.at);
    // delayed C2B duplicates go out in shuffled batches while the run goes on
    const flusher = c2b
      ? setInterval(() => void c2b.flush().catch((err) => violate(`C2B duplicates: ${String(err)}`)), 2000)
      : undefined;
    const workersDone: Array<Promise<void>> = [];
    for (let c = 0; c < o.concurrency; c++) {
      workersDone.push(
        (async () => {
          while (next < jobs.length) {
            const job = jobs[next++] as (typeof jobs)[number];
            sent.n++;
            while (events.length > 0 && (events[0]?.at ?? 2) <= sent.n / jobs.length) {
              const e = events.shift() as (typeof events)[number];
              chaosTasks.push(e.run().catch((err) => violate(`chaos step failed: ${String(err)}`)));
            }
            await job.run();
          }
        })(),
      );
    }
    await Promise.all(workersDone);
    for (const e of events.splice(0))
      chaosTasks.push(e.run().catch((err) => violate(`chaos step failed: ${String(err)}`)));
    await Promise.all(chaosTasks);
    if (flusher) clearInterval(flusher);
    log(`${created.size} payments accepted in ${((Date.now() - t0) / 1000).toFixed(0)} s; forging callbacks`);

    // ---- forged callbacks ---------------------------------------------------------------------------
    const forgedTargets = [...created.values()].filter((_, k) => k % 20 === 0);
    for (const p of forgedTargets) {
      const cb = (receipt: string) => ({
        Body: {
          stkCallback: {
            MerchantRequestID: 'forged',
            CheckoutRequestID: 'ws_CO_forged',
            ResultCode: 0,
            ResultDesc: 'The service request is processed successfully.',
            CallbackMetadata: {
              Item: [
                { Name: 'Amount', Value: p.amount },
                { Name: 'MpesaReceiptNumber', Value: receipt },
                { Name: 'TransactionDate', Value: 20250101120000 },
                { Name: 'PhoneNumber', Value: Number(p.phone) },
              ],
            },
          },
        },
      });
      try {
        const wrong = await fetch(`${apiUrls[0]}/hooks/daraja/stk/${p.id}/${'A'.repeat(43)}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(cb('FORGEDWRONG')),
        });
        counters.forgedWrongToken++;
        // refused either way: 404 from the route, or 429 once this address spent its wrong-token budget
        if (wrong.status !== 404 && wrong.status !== 429) counters.forgedWrongTokenAccepted++;
        const right = await fetch(
          `${apiUrls[0]}/hooks/daraja/stk/${p.id}/${callbackToken(callbackSecret, 'stk', p.id)}`,
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(cb('FORGEDRIGHT')),
          },
        );
        counters.forgedSuccess++;
        if (right.status !== 200) violate(`forged callback answered ${right.status}`);
      } catch {
        // the API restarting
      }
    }
    if (counters.forgedWrongTokenAccepted > 0)
      violate(`${counters.forgedWrongTokenAccepted} wrong-token callbacks not refused`);
    if (payoutCount > 0) await payouts.forge();
    if (c2b) await c2b.replayAfterKills();

    // ---- waiting for final states -----------------------------------------------------------------
    const deadline = Date.now() + (o.deadlineSeconds + 240) * 1000;
    log(`waiting for every payment to be final (until ${new Date(deadline).toISOString()})`);
    const ids = [...created.values()].map((p) => p.id);
    let rows: Json[] = [];
    for (;;) {
      rows = await db.db.selectFrom('payments').selectAll().where('merchant_id', '=', merchant.id).execute();
      const pending = rows.filter((r) => r.status === 'pending').length;
      if (Date.now() > deadline) break;
      if (pending === 0) {
        const unsettled = [];
        for (const f of flows) if (!(await f.flow.settled())) unsettled.push(f.kind);
        if (unsettled.length === 0) break;
      }
      await sleep(3000);
    }

    // a client of its own, for what the database cannot tell: whether a workflow still runs, and its state
    const client = new Client({
      connection: await Connection.connect({ address: `127.0.0.1:${temporalPort}` }),
    });
    cleanups.push(() => client.connection.close());
    /** A payment workflow's own account of itself, for a violation's message. */
    const workflowDetails = async (id: string): Promise<string> => {
      try {
        const h = client.workflow.getHandle(id);
        const d = await h.describe();
        const st = d.status.name === 'RUNNING' ? await h.query<StkPaymentState>('paymentState') : undefined;
        const at = (t: string | undefined) =>
          t === undefined ? '-' : `${((Date.parse(t) - t0) / 1000).toFixed(0)} s`;
        return [
          `workflow ${d.status.name}, ${d.historyLength} events`,
          ...(st
            ? [
                `its state ${st.status}/${st.initiation}`,
                `pushes ${st.initiationAttempts}, queries ${st.queries}`,
                `accepted ${at(st.acceptedAt)}, deadline ${at(st.deadlineAt)}, grace until ${at(st.graceUntil)} (from the start of the run)`,
              ]
            : []),
        ].join(', ');
      } catch (err) {
        return `workflow not described: ${String(err).slice(0, 120)}`;
      }
    };

    // ---- reconciliation (--reconcile) ----------------------------------------------------------------
    let reconcileLines = '';
    if (o.reconcile) {
      const before = await reviewSnapshot(db.db, merchant.id);
      const inReview = [...before.payments, ...before.payouts];
      const until = Date.now() + reconcileBudgetMs(GRACE_SECONDS, CHAOS_RECONCILE_SCALE);
      log(`${inReview.length} in review at the deadline; waiting for their reconciliation to end`);
      const unfinished = await waitForWorkflowsToEnd(client, inReview, until, log);
      if (unfinished.length > 0) violate(`${unfinished.length} review workflows still running at the end`);
      rows = await db.db.selectFrom('payments').selectAll().where('merchant_id', '=', merchant.id).execute();
      const after = await reviewSnapshot(db.db, merchant.id);
      reconcileLines = reviewTable(before, after);
    }
    const byId = new Map(rows.map((r) => [r.id as string, r]));
    const ledger = state.ledger();
    const pushesByPayment = new Map<string, typeof ledger.pushes>();
    for (const push of ledger.pushes) {
      const m = /\/hooks\/daraja\/stk\/(pay_[0-9A-Za-z]+)\//.exec(push.callbackUrl);
      if (!m?.[1]) continue;
      const list = pushesByPayment.get(m[1]) ?? [];
      list.push(push);
      pushesByPayment.set(m[1], list);
    }
    const outcomes: Record<string, number> = {};
    const pendingIds: string[] = [];
    let successNullReceipt = 0;
    let unknowablePaid = 0;
    let stkWrong = 0;
    let stkDouble = 0;
    for (const id of ids) {
      const row = byId.get(id);
      if (!row) {
        violate(`${id}: no row`);
        continue;
      }
      outcomes[row.status] = (outcomes[row.status] ?? 0) + 1;
      if (row.status === 'pending') {
        pendingIds.push(id);
        continue;
      }
      const pushes = pushesByPayment.get(id) ?? [];
      if (pushes.length > 1) {
        stkDouble++;
        violate(`${id}: ${pushes.length} accepted pushes`);
      }
      const paid = pushes.find((p) => p.customerAction === 'paid');
      if (paid) {
        // Unknowable, not a violation: the push response was lost (no CheckoutRequestID) and no
        // callback ever arrived, so nothing names the payment; Malipo must say needs_review.
        const unknowable = paid.responseDelayed && !paid.callbacks.some((c) => c.ok);
        if (unknowable && row.status === 'needs_review') unknowablePaid++;
        else if (row.status !== 'success') {
          stkWrong++;
          violate(
            `${id}: customer paid but status ${row.status}/${row.review_reason ?? row.failure_reason} (${pushFault(paid)}; ${await workflowDetails(id)})`,
          );
        } else {
          if (row.amount !== paid.amount) {
            stkWrong++;
            violate(`${id}: amount ${row.amount} ≠ ${paid.amount}`);
          }
          if (row.mpesa_receipt === null) successNullReceipt++;
          else if (row.mpesa_receipt !== paid.receipt) {
            stkWrong++;
            violate(`${id}: receipt ${row.mpesa_receipt} ≠ ${paid.receipt}`);
          }
        }
      } else if (row.status === 'success') {
        stkWrong++;
        violate(`${id}: success but the customer never paid`);
      }
      if (String(row.mpesa_receipt ?? '').startsWith('FORGED')) {
        stkWrong++;
        violate(`${id}: a forged receipt was believed`);
      }
    }
    for (const id of pendingIds) {
      const detail =
        pendingIds.indexOf(id) < 20
          ? ` (${pushFault(pushesByPayment.get(id)?.[0])}; ${await workflowDetails(id)})`
          : '';
      violate(`${id}: still pending at the deadline${detail}`);
    }
    const total = await db.db
      .selectFrom('payments')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('merchant_id', '=', merchant.id)
      .where('kind', '=', 'stk')
      .executeTakeFirstOrThrow();
    if (Number(total.n) !== created.size)
      violate(`${total.n} payment rows for ${created.size} distinct requests`);
    if (extraIds.size > 0) violate(`${extraIds.size} idempotent retries created another payment`);
    const checks: FlowCheck[] = [];
    for (const f of flows) checks.push(await f.flow.check(ledger));

    // ---- webhooks ---------------------------------------------------------------------------------
    const finalEvents = await db.db
      .selectFrom('events')
      .select(['id', 'payment_id', 'type'])
      .where('merchant_id', '=', merchant.id)
      .execute();
    const whDeadline = Date.now() + 240_000;
    const seen = () => new Set(received.map((r) => r.id));
    while ([...finalEvents].some((e) => !seen().has(e.id)) && Date.now() < whDeadline) await sleep(3000);
    const got = seen();
    const missing = finalEvents.filter((e) => !got.has(e.id));
    for (const e of missing.slice(0, 20)) violate(`event ${e.id} (${e.type}) never reached the receiver`);
    if (missing.length > 20) violate(`… and ${missing.length - 20} more events never reached the receiver`);
    const bodies = new Map<string, string>();
    let unverified = 0;
    for (const r of received) {
      try {
        verifyWebhook(r.body, r.headers as Record<string, string>, endpointSecret, {
          toleranceSeconds: 3600,
        });
      } catch {
        unverified++;
      }
      const b = bodies.get(r.id);
      if (b === undefined) bodies.set(r.id, r.body);
      else if (b !== r.body) violate(`event ${r.id}: deliveries carried different bodies`);
    }
    if (unverified > 0) violate(`${unverified} deliveries failed verification`);
    const paymentsWithEvents = new Set(finalEvents.map((e) => e.payment_id));
    const finals = ids.filter((id) => byId.get(id)?.status !== 'pending');
    const noEvent = finals.filter((id) => !paymentsWithEvents.has(id));
    if (noEvent.length > 0) violate(`${noEvent.length} final payments have no event`);
    for (const c of checks) {
      const silent = c.finalIds.filter((id) => !paymentsWithEvents.has(id));
      if (silent.length > 0) violate(`${silent.length} final ${c.summary.kind} have no event`);
    }

    // ---- the table --------------------------------------------------------------------------------
    const pushesTotal = ledger.pushes.length;
    const lines: Array<[string, string | number]> = [
      ['payments requested', o.payments],
      ['payments accepted', created.size],
      ['API / worker processes', `${o.apis} / ${o.workers}`],
      ['simulator seed (--seed)', o.seed],
      ['simulator requests', JSON.stringify(ledger.requests)],
      ['pushes accepted / rejected', `${pushesTotal} / ${ledger.rejectedPushes.length}`],
      ['pushes with callback dropped', ledger.pushes.filter((p) => p.callbackMode === 'drop').length],
      ['pushes with callback duplicated', ledger.pushes.filter((p) => p.callbackMode === 'duplicate').length],
      ['pushes with callback late', ledger.pushes.filter((p) => p.callbackMode === 'late').length],
      ['pushes with response lost (ambiguous)', ledger.pushes.filter((p) => p.responseDelayed).length],
      ['worker SIGKILLs', counters.workerKills],
      ['API SIGKILLs', counters.apiKills],
      ['Temporal dev server restarts', counters.temporalRestarts],
      [
        'forged callbacks, wrong token (404 or 429)',
        `${counters.forgedWrongToken - counters.forgedWrongTokenAccepted}/${counters.forgedWrongToken}`,
      ],
      ['forged successes, right token', counters.forgedSuccess],
      ['idempotent replays', counters.idempotentReplays],
      ['client retries (network error / 5xx)', counters.apiRetries],
      ['API 5xx (inside kill/restart windows)', `${counters.api5xx} (${counters.api5xxInWindows})`],
      [
        'receiver: 2xx / 500 / hung',
        `${counters.receiverOk} / ${counters.receiver500} / ${counters.receiverHung}`,
      ],
      ['events / deliveries received', `${finalEvents.length} / ${received.length}`],
      ...Object.entries(outcomes).map(([k, v]) => [`outcome ${k}`, v] as [string, number]),
      ['success settled by query, receipt null', successNullReceipt],
      ['paid, push ambiguous and callback lost → needs_review', unknowablePaid],
      ...(payoutCount > 0 ? ([['payouts requested', payoutCount]] as Array<[string, number]>) : []),
      ...(c2bCount > 0 ? ([['C2B payments requested', c2bCount]] as Array<[string, number]>) : []),
      ...checks.flatMap((c) => c.lines),
      ['wall time', `${((Date.now() - t0) / 1000).toFixed(0)} s`],
      ['violations', violations.length],
    ];
    const w = Math.max(...lines.map(([k]) => k.length));
    const kinds = kindTable([
      {
        kind: 'stk payments',
        total: created.size,
        success: outcomes.success ?? 0,
        failed: outcomes.failed ?? 0,
        needsReview: outcomes.needs_review ?? 0,
        wrong: stkWrong,
        double: stkDouble,
      },
      ...checks.map((c) => c.summary),
    ]);
    let table = `${lines.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n')}\n\n${kinds}`;
    if (o.reconcile) {
      const stayed = await stayedInReview(db.db, merchant.id, ledger, pushesByPayment);
      const why = (label: string, counts: Record<string, number>) =>
        Object.entries(counts)
          .sort((a, b) => b[1] - a[1])
          .map(([k, n]) => `${label}  ${String(n).padStart(4)}  ${k}`);
      table += `\n\n${reconcileLines}\n\nstill in review after reconciliation (review reason — what the simulator did):\n${[
        ...why('stk   ', stayed.payments),
        ...why('payout', stayed.payouts),
      ].join('\n')}`;
    }
    return { violations, table, wallSeconds: (Date.now() - t0) / 1000 };
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // keep cleaning
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
