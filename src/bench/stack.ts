/**
 * The isolated stack `malipo bench` measures, on loopback in a fresh temp directory: a Temporal dev
 * server (child process, fresh SQLite file, as `malipo dev` runs it), the database (PGlite, or a
 * PostgreSQL URL), the real worker and API in this process, the Daraja simulator (customer pays at
 * once, callbacks at once), a webhook receiver that verifies signatures, and the floor: a bare
 * workflow with its own worker and task queue, and a bare express endpoint.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode, type NativeConnection, Worker } from '@temporalio/worker';
import express from 'express';
import { createActivities } from '../../activities';
import { loadConfig } from '../config';
import { type DatabaseHandle, openDatabase } from '../db';
import { callbackSecretOf, createApp } from '../http/app';
import { createLogger } from '../logger';
import { createChannel } from '../platform/channels';
import { createApiKey } from '../platform/keys';
import { createMerchant } from '../platform/merchants';
import { SecretBox } from '../platform/secret-box';
import { type ChildProcess, spawn } from 'node:child_process';
import type { LedgerSnapshot } from '../sandbox';
import { connectClient, connectWorker } from '../temporal/connection';
import { type DevServer, freePort, startDevServer } from '../temporal/dev-server';
import { bundleWorkflows, type CreateWorkerOptions, createWorker } from '../temporal/worker';
import { verifyWebhook } from '../webhooks/verify';
import { floorSignal } from './floor-workflow';
import { Closers } from '../closers';
import { simulatorChannelInput } from '../admin/dev-bootstrap';

export const FLOOR_TASK_QUEUE = 'malipo-bench-floor';
export const TASK_QUEUE = 'malipo-bench';
/** Paying customers in the simulator; more than the payments ever in flight at once. */
export const PAYING_PHONES = 4096;

export interface BenchStackOptions {
  databaseUrl?: string | undefined;
  /** Worker options over the defaults of src/temporal/worker.ts (the tuning experiments). */
  tuning?: CreateWorkerOptions['tuning'];
  /** Extra environment for loadConfig (e.g. MALIPO_STK_CONFIRM_SUCCESS). */
  env?: Record<string, string>;
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

/** The statement a query runs, without its parameter list: `select … from "payments" where …`. */
function statementOf(sqlText: string): string {
  return sqlText
    .replace(/\s+/g, ' ')
    .replace(/\(\$\d+(, \$\d+)*\)/g, '(…)')
    .slice(0, 140);
}

export interface BenchStack {
  url: string;
  key: string;
  endpointId: string;
  temporal: Client;
  devServer: DevServer;
  /** The simulator, a child process (its CPU is not Malipo's). */
  simulator: { url: string; pid: number | undefined; ledger(): Promise<LedgerSnapshot> };
  expressUrl: string;
  /** Resolves when the verified `payment.success` webhook of `paymentId` arrives (or rejects after timeoutMs). */
  waitForWebhook(paymentId: string, timeoutMs: number): Promise<Delivery>;
  /** The next paying customer's phone (round robin over {@link PAYING_PHONES} numbers). */
  payingPhone(): string;
  /** Webhook requests refused by signature verification. */
  badSignatures: number;
  /** Database round trips of the Malipo process (API and worker), in total and by statement. */
  dbQueries: DbQueryStats;
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
    const bundles = Promise.all([
      bundleWorkflows(),
      bundleWorkflowCode({
        workflowsPath: require.resolve('./floor-workflow'),
        logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error },
      }),
    ]);
    bundles.catch(() => undefined);
    const devServer = await startDevServer({
      dbFile: path.join(dir, 'temporal.db'),
      port: await freePort(),
      uiPort: null,
    });
    closers.push(() => devServer.stop());

    step('opening the database');
    const dbQueries: DbQueryStats = { total: 0, byStatement: new Map() };
    const dbHandle: DatabaseHandle = await openDatabase({
      url: opts.databaseUrl,
      dataDir: path.join(dir, 'db'),
      onQuery: (sqlText, ms) => {
        dbQueries.total++;
        const key = statementOf(sqlText);
        const st = dbQueries.byStatement.get(key) ?? { count: 0, ms: 0 };
        st.count++;
        st.ms += ms;
        dbQueries.byStatement.set(key, st);
      },
    });
    closers.push(() => dbHandle.close());
    const db = dbHandle.db;

    // The app listens first so the config can name its real port.
    let handler: http.RequestListener = (_req, res) => {
      res.statusCode = 503;
      res.end();
    };
    const server = http.createServer((req, res) => handler(req, res));
    server.keepAliveTimeout = 60_000;
    await listen(server);
    closers.push(() => closeServer(server));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const config = loadConfig({
      LOG_LEVEL: 'silent',
      MALIPO_MODE: 'development',
      PORT: String((server.address() as AddressInfo).port),
      HOST: '127.0.0.1',
      MALIPO_PUBLIC_URL: url,
      MALIPO_DATA_DIR: dir,
      TEMPORAL_ADDRESS: devServer.address,
      TEMPORAL_TASK_QUEUE: TASK_QUEUE,
      MALIPO_RATE_LIMIT_CREATE_PER_MINUTE: '100000000',
      MALIPO_RATE_LIMIT_PER_MINUTE: '100000000',
      MALIPO_RATE_LIMIT_STORE: 'memory',
      // held payments must stay pending for the whole run
      MALIPO_STK_DEADLINE_SECONDS: '3600',
      ...opts.env,
    });
    const logger = createLogger('silent');
    const secretBox = new SecretBox(crypto.randomBytes(32));
    const callbackSecret = callbackSecretOf(config, secretBox);

    step('starting the simulator and the webhook receiver');
    // The simulator keeps one open prompt per phone ("unable to lock subscriber"), so concurrent
    // payments need many customers: a pool of phones that all pay at once.
    const payingPhones = Array.from(
      { length: PAYING_PHONES },
      (_, i) => `2547220${String(i).padStart(5, '0')}`,
    );
    const sim = await startSimulatorProcess(payingPhones);
    closers.push(() => sim.stop());
    let phoneTurn = 0;

    const temporal = await connectClient(devServer.address, config);
    closers.push(() => temporal.connection.close());

    handler = createApp({ config, db, temporal, logger, secretBox, callbackSecret });

    step('bundling workflows and starting the workers');
    const [bundle, floorBundle] = await bundles;
    const connection: NativeConnection = await connectWorker(devServer.address, config);
    closers.push(() => connection.close());
    const worker = await createWorker({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: TASK_QUEUE,
      activities: createActivities({ config, db, logger, secretBox, callbackSecret, temporal }),
      workflowBundle: bundle,
      ...(opts.tuning ? { tuning: opts.tuning } : {}),
    });
    const floorWorker = await Worker.create({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: FLOOR_TASK_QUEUE,
      workflowBundle: floorBundle,
      activities: {
        async floorStep(workflowId: string): Promise<string> {
          // the "callback": a signal shortly after the activity answers, as the simulator does
          setImmediate(() => {
            temporal.workflow
              .getHandle(workflowId)
              .signal(floorSignal)
              .catch(() => undefined);
          });
          return 'ok';
        },
      },
    });
    for (const w of [worker, floorWorker]) {
      const running = w.run();
      running.catch(() => undefined);
      closers.push(async () => {
        if (w.getState() === 'RUNNING') w.shutdown();
        await running.catch(() => undefined);
      });
    }

    step('creating the merchant, channel, key and webhook endpoint');
    const actor = { actor: 'bench' };
    const merchant = await createMerchant(db, { name: 'Bench merchant' }, actor);
    await createChannel(db, secretBox, merchant.id, simulatorChannelInput(sim.url), actor);
    const key = (
      await createApiKey(
        db,
        secretBox,
        { merchantId: merchant.id, environment: 'test', scopes: ['*'], label: 'bench' },
        actor,
      )
    ).key;

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

    // The bare express endpoint of the floor.
    const bare = express();
    bare.use(express.json());
    bare.post('/pay', (req, res) => {
      res.status(202).json({ id: crypto.randomUUID(), status: 'pending', amount: req.body?.amount });
    });
    const bareServer = http.createServer(bare);
    bareServer.keepAliveTimeout = 60_000;
    await listen(bareServer);
    closers.push(() => closeServer(bareServer));

    return Object.assign(stack, {
      url,
      key,
      endpointId: epBody.id,
      temporal,
      devServer,
      simulator: {
        url: sim.url,
        pid: sim.child.pid,
        ledger: async () => {
          const r = await fetch(`${sim.url}/sandbox/__sandbox/ledger`);
          if (!r.ok) throw new Error(`simulator ledger: HTTP ${r.status}`);
          return (await r.json()) as LedgerSnapshot;
        },
      },
      payingPhone: () => payingPhones[phoneTurn++ % payingPhones.length] as string,
      expressUrl: `http://127.0.0.1:${(bareServer.address() as AddressInfo).port}`,
      dbQueries,
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

/** Starts src/bench/simulator-process.ts and waits for its URL. */
async function startSimulatorProcess(
  phones: string[],
): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(__dirname, 'simulator-process.ts'), JSON.stringify({ phones })],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (b: Buffer) => {
      output += b.toString('utf8');
      const m = /simulator ready (\S+)/.exec(output);
      if (m) resolve(m[1] as string);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the simulator exited (${code}): ${output.slice(-2000)}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
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
