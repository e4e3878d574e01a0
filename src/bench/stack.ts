/**
 * The isolated stack `malipo bench` measures, on loopback in a fresh temp directory: a Temporal dev
 * server (child process, fresh SQLite file, as `malipo dev` runs it), the Daraja simulator (child
 * process; customer pays at once, callbacks at once), Malipo itself (see malipo-process.ts: one
 * child process with API, worker and PGlite, or on PostgreSQL an API process and a worker process;
 * the floor's worker and bare express endpoint beside them), and in this process the webhook
 * receiver, which verifies each signature.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type ChildProcess, spawn } from 'node:child_process';
import type { Client } from '@temporalio/client';
import { Closers } from '../closers';
import { loadConfig } from '../config';
import type { LedgerSnapshot } from '../sandbox';
import { connectClient } from '../temporal/connection';
import { type DevServer, freePort, startDevServer } from '../temporal/dev-server';
import type { CreateWorkerOptions } from '../temporal/worker';
import { verifyWebhook } from '../webhooks/verify';
import type { DbStatsMessage, MalipoProcessInput, MalipoProcessReady } from './malipo-process';
import type { SampledPids } from './proc';

export { FLOOR_TASK_QUEUE, TASK_QUEUE } from './malipo-process';
/** Paying customers in the simulator; more than the payments ever in flight at once. */
export const PAYING_PHONES = 4096;

/**
 * Settings of the bench's Malipo for the holding test. Held payments must stay pending for the
 * whole run, and at the default query cadence (about one STK Query a minute each) 10,000 pending
 * payments would cost ≈ 170 queries a second: a load test, not a holding test. Paying workloads
 * settle by callback within a second and never reach a timed query, so they are unaffected.
 */
export const HOLD_SETTINGS = {
  MALIPO_STK_DEADLINE_SECONDS: '3600',
  MALIPO_STK_QUERY_FIRST_SECONDS: '300',
  MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS: '900',
} as const;

export interface BenchStackOptions {
  databaseUrl?: string | undefined;
  /** Worker options over the defaults of src/temporal/worker.ts (the tuning experiments). */
  tuning?: CreateWorkerOptions['tuning'];
  /** Extra environment for loadConfig (e.g. MALIPO_STK_CONFIRM_SUCCESS). */
  env?: Record<string, string>;
  /** Directory for V8 CPU profiles of Malipo's processes (written when they stop). */
  profileDir?: string | undefined;
  onStep?: (what: string) => void;
}

export interface Delivery {
  at: number;
  eventId: string;
}

export interface DbQueryStats {
  total: number;
  byStatement: Map<string, { count: number; ms: number }>;
}

export interface BenchStack {
  url: string;
  key: string;
  endpointId: string;
  temporal: Client;
  devServer: DevServer;
  /** The simulator, a child process (its CPU is not Malipo's). */
  simulator: { url: string; pid: number | undefined; ledger(): Promise<LedgerSnapshot> };
  /** Malipo's processes (API and worker, one process or two; the floors' worker and endpoint too). */
  malipo: { pids: number[]; workerPid: number | undefined };
  /** Every process the bench samples: Malipo's, the worker's among them, the server, the simulator. */
  sampledPids(): SampledPids;
  expressUrl: string;
  /** Resolves when the verified `payment.success` webhook of `paymentId` arrives (or rejects after timeoutMs). */
  waitForWebhook(paymentId: string, timeoutMs: number): Promise<Delivery>;
  /** The next paying customer's phone (round robin over {@link PAYING_PHONES} numbers). */
  payingPhone(): string;
  /** Webhook requests refused by signature verification. */
  badSignatures: number;
  /** Database round trips of Malipo's processes so far, in total and by statement. */
  dbQueries(): Promise<DbQueryStats>;
  /** The bench merchant's id (the owner of `key`). */
  merchantId: string;
  /** Sends an IPC message to Malipo's API or worker process (one process on PGlite) and resolves with its answer. */
  request(to: 'api' | 'worker', message: { type: string }): Promise<unknown>;
  stop(): Promise<void>;
}

export async function startBenchStack(opts: BenchStackOptions = {}): Promise<BenchStack> {
  const step = opts.onStep ?? (() => {});
  const closers = new Closers();
  const stopAll = () => closers.close();
  try {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'malipo-bench-'));
    closers.push(async () => fs.rmSync(dir, { recursive: true, force: true }));

    step('starting the Temporal dev server');
    const devServer = await startDevServer({
      dbFile: path.join(dir, 'temporal.db'),
      port: await freePort(),
      uiPort: null,
    });
    closers.push(() => devServer.stop());

    step('starting the simulator');
    // The simulator keeps one open prompt per phone ("unable to lock subscriber"), so concurrent
    // payments need many customers: a pool of phones that all pay at once.
    const payingPhones = Array.from(
      { length: PAYING_PHONES },
      (_, i) => `2547220${String(i).padStart(5, '0')}`,
    );
    const sim = await startChild('simulator-process.ts', { phones: payingPhones }, 'simulator');
    closers.push(() => sim.stop());
    const simUrl = sim.ready;
    let phoneTurn = 0;

    // On PGlite one process holds the API, the worker and the database; on PostgreSQL the API and
    // the worker run apart, as in production, so the worker's memory is its own.
    const base = {
      temporalAddress: devServer.address,
      dataDir: dir,
      databaseUrl: opts.databaseUrl,
      simulatorUrl: simUrl,
      encryptionKey: crypto.randomBytes(32).toString('hex'),
      ...(opts.tuning ? { tuning: opts.tuning } : {}),
      env: { ...HOLD_SETTINGS, ...opts.env },
    };
    const startMalipo = async (input: MalipoProcessInput) => {
      step(`starting Malipo (${input.role === 'all' ? 'API, worker and database' : input.role})`);
      const nodeArgs = opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : [];
      const p = await startChild('malipo-process.ts', input, 'malipo', { ipc: true, nodeArgs });
      closers.push(() => p.stop());
      return { ...p, info: JSON.parse(p.ready) as MalipoProcessReady };
    };
    const api = await startMalipo({ ...base, role: opts.databaseUrl ? 'api' : 'all' });
    const { url, key, expressUrl } = api.info;
    if (!url || !key || !expressUrl) throw new Error(`Malipo's API process answered ${api.ready}`);
    const worker = opts.databaseUrl ? await startMalipo({ ...base, role: 'worker', publicUrl: url }) : api;
    const malipoProcesses = worker === api ? [api] : [api, worker];
    const malipoPids = malipoProcesses.flatMap((p) => (p.child.pid === undefined ? [] : [p.child.pid]));

    const temporal = await connectClient(devServer.address, loadConfig({ LOG_LEVEL: 'silent' }));
    closers.push(() => temporal.connection.close());

    step('starting the webhook receiver');
    // The webhook receiver: verifies each signature, then resolves the payment's waiter.
    const arrived = new Map<string, Delivery>();
    const waiters = new Map<string, (d: Delivery) => void>();
    let secret = '';
    const stack = { badSignatures: 0 };
    const receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const at = performance.now();
        try {
          const event = verifyWebhook(Buffer.concat(chunks), req.headers, secret);
          const id = (event.data as { id?: unknown } | null)?.id;
          if (event.type === 'payment.success' && typeof id === 'string') {
            const d = { at, eventId: event.id };
            const w = waiters.get(id);
            if (w) {
              waiters.delete(id);
              w(d);
            } else arrived.set(id, d);
          }
          res.statusCode = 204;
        } catch {
          stack.badSignatures++;
          res.statusCode = 400;
        }
        res.end();
      });
    });
    receiver.keepAliveTimeout = 60_000;
    await listen(receiver);
    closers.push(() => closeServer(receiver));
    const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/malipo`;

    const ep = await fetch(`${url}/v1/webhook-endpoints`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: receiverUrl, events: ['payment.success'], description: 'bench' }),
    });
    const epBody = (await ep.json()) as { id?: string; secret?: string };
    if (ep.status !== 201 || !epBody.secret || !epBody.id) {
      throw new Error(`could not register the webhook endpoint: ${ep.status} ${JSON.stringify(epBody)}`);
    }
    secret = epBody.secret;

    return Object.assign(stack, {
      url,
      key,
      endpointId: epBody.id,
      temporal,
      devServer,
      simulator: {
        url: simUrl,
        pid: sim.child.pid,
        ledger: async () => {
          const r = await fetch(`${simUrl}/sandbox/__sandbox/ledger`);
          if (!r.ok) throw new Error(`simulator ledger: HTTP ${r.status}`);
          return (await r.json()) as LedgerSnapshot;
        },
      },
      malipo: { pids: malipoPids, workerPid: worker.child.pid },
      merchantId: api.info.merchantId ?? '',
      request: (to: 'api' | 'worker', message: { type: string }) =>
        (to === 'api' ? api : worker).request(message),
      sampledPids: (): SampledPids => ({
        malipo: malipoPids,
        worker: worker.child.pid,
        server: devServer.process.pid,
        simulator: sim.child.pid,
      }),
      payingPhone: () => payingPhones[phoneTurn++ % payingPhones.length] as string,
      expressUrl,
      dbQueries: async (): Promise<DbQueryStats> => {
        const out: DbQueryStats = { total: 0, byStatement: new Map() };
        for (const p of malipoProcesses) {
          const m = (await p.request({ type: 'dbStats' })) as DbStatsMessage;
          out.total += m.total;
          for (const [statement, v] of m.byStatement) {
            const st = out.byStatement.get(statement) ?? { count: 0, ms: 0 };
            out.byStatement.set(statement, { count: st.count + v.count, ms: st.ms + v.ms });
          }
        }
        return out;
      },
      waitForWebhook(paymentId: string, timeoutMs: number): Promise<Delivery> {
        const done = arrived.get(paymentId);
        if (done) {
          arrived.delete(paymentId);
          return Promise.resolve(done);
        }
        return new Promise<Delivery>((resolve, reject) => {
          const timer = setTimeout(() => {
            waiters.delete(paymentId);
            reject(new Error('webhook_timeout'));
          }, timeoutMs);
          waiters.set(paymentId, (d) => {
            clearTimeout(timer);
            resolve(d);
          });
        });
      },
      stop: stopAll,
    });
  } catch (err) {
    await stopAll();
    throw err;
  }
}

interface StartedChild {
  child: ChildProcess;
  /** What the child printed after `<name> ready `. */
  ready: string;
  /** Sends a message over IPC and resolves with the next message of the same type. */
  request(message: { type: string }): Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * Starts src/bench/<file> with its input as JSON and waits for it to print `<name> ready <payload>`.
 * Stops with SIGTERM, then SIGKILL after 10 s.
 */
async function startChild(
  file: string,
  input: unknown,
  name: string,
  opts: { ipc?: boolean; nodeArgs?: string[] } = {},
): Promise<StartedChild> {
  const child = spawn(
    process.execPath,
    [...(opts.nodeArgs ?? []), '--import', 'tsx', path.join(__dirname, file), JSON.stringify(input)],
    { stdio: opts.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const ready = await new Promise<string>((resolve, reject) => {
    const onData = (b: Buffer) => {
      output += b.toString('utf8');
      const m = new RegExp(`${name} ready (.+)\n`).exec(output);
      if (m) resolve(m[1] as string);
      else if (output.length > 100_000) output = output.slice(-10_000);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`the ${name} process exited (${code}): ${output.slice(-2000)}`)),
    );
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    ready,
    request(message) {
      return new Promise((resolve, reject) => {
        const done = () => {
          child.off('message', onMessage);
          child.off('exit', onExit);
        };
        const onMessage = (m: { type?: string }) => {
          if (m?.type !== message.type) return;
          done();
          resolve(m);
        };
        // a process that died mid-run fails the bench instead of leaving it waiting
        const onExit = (code: number | null) => {
          done();
          reject(new Error(`the ${name} process exited (${code}): ${output.slice(-2000)}`));
        };
        if (child.exitCode !== null || child.signalCode !== null) return onExit(child.exitCode);
        child.on('message', onMessage);
        child.once('exit', onExit);
        child.send(message, (err) => {
          if (err) {
            done();
            reject(err);
          }
        });
      });
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

function listen(server: http.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
}

async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(() => r(undefined)));
}
