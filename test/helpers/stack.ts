/**
 * An in-process end-to-end stack for one test file: a real Temporal dev server, a fresh migrated
 * database, the real worker (createMalipoWorker: its activities + the bundled workflows), the real express app and
 * the Daraja simulator mounted at /sandbox, with Daraja's callbacks reaching the app over loopback.
 *
 *   const s = await startStack();                          // in `before` (~10-20 s: dev server + bundle)
 *   const r = await s.api('POST', '/v1/payments/stk-push', { phone, amount: 10, reference: 'INV1' });
 *   const p = await s.waitForStatus(r.body.id);            // until it leaves `pending`
 *   s.sandbox.state.ledger();                              // the simulator's ground truth
 *   await s.stop();                                        // in `after`
 *
 * Timings are short by default (see STACK_ENV and STACK_SANDBOX); pass `env`, `sandbox` or
 * `stkConfig` to change them. `newMerchant()` gives further merchants (another channel and key).
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { type Config, loadConfig } from '../../src/config';
import type { DatabaseHandle } from '../../src/db';
import { openDatabase } from '../../src/db';
import type { StkPaymentState, StkPushConfig } from '../../src/domain/stk';
import { callbackSecretOf, createApp } from '../../src/http/app';
import { createLogger, type Logger } from '../../src/logger';
import { PaymentService } from '../../src/payments/service';
import { PayoutService } from '../../src/payouts/service';
import type { PayoutConfig } from '../../src/domain/payout';
import { stkConfigFrom } from '../../src/payments/settings';
import { createChannel, DEVELOPMENT_CHANNEL_POLICY } from '../../src/platform/channels';
import { createApiKey, type IssuedKey, OPERATOR } from '../../src/platform/keys';
import { createMerchant } from '../../src/platform/merchants';
import type { Scope } from '../../src/platform/scopes';
import { SecretBox } from '../../src/platform/secret-box';
import { createSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox';
import { createMalipoWorker } from '../../src/runtime';
import { bundleWorkflows } from '../../src/temporal/worker';
import { paymentStateQuery } from '../../workflows/stk-push';
import { openFreshPostgres } from './db';
import type { TestResponse } from './http';
import { devServer } from './temporal';
import { Closers } from '../../src/closers';
import { simulatorChannelInput } from '../../src/admin/dev-bootstrap';

/** Config overrides every stack starts from (then `opts.env` on top). */
export const STACK_ENV: Readonly<Record<string, string>> = {
  LOG_LEVEL: 'silent',
  MALIPO_MODE: 'development',
  // the smallest deadline the config allows; no grace window, so a failed workflow completes at once
  MALIPO_STK_DEADLINE_SECONDS: '30',
  MALIPO_STK_GRACE_SECONDS: '0',
  MALIPO_INITIATION_WAIT_MS: '8000',
  // a push held back longer than this is ambiguous (the simulator's slowResponseMs is longer)
  MALIPO_DARAJA_TIMEOUT_MS: '3000',
  MALIPO_RATE_LIMIT_CREATE_PER_MINUTE: '100000',
  MALIPO_RATE_LIMIT_PER_MINUTE: '100000',
  MALIPO_RATE_LIMIT_STORE: 'memory',
};

/** Simulator options every stack starts from (then `opts.sandbox` on top). */
export const STACK_SANDBOX: Readonly<SandboxOptions> = {
  callbackDelayMs: 300,
  duplicateCallbackGapMs: 250,
  // after the first STK query (STACK_STK.firstQueryDelayMs), well before the deadline
  lateCallbackDelayMs: 6000,
  // past MALIPO_DARAJA_TIMEOUT_MS, so the push is ambiguous
  slowResponseMs: 6000,
  promptTimeoutMs: 120_000,
};

/**
 * Workflow knobs shortened for tests, below what the environment allows (the query cadence's minimum
 * is 5 s), so they go over the config's (then `opts.stkConfig` on top).
 */
export const STACK_STK: Readonly<Partial<StkPushConfig>> = {
  firstQueryDelayMs: 2000,
  maxQueryIntervalMs: 5000,
  confirmRetryDelayMs: 1000,
  phoneBusyInitialDelayMs: 2000,
  phoneBusyMaxTotalMs: 20_000,
  transientRetryInitialDelayMs: 1000,
};

/** Payout knobs shortened for tests (then `opts.payoutConfig` on top). */
export const STACK_PAYOUT: Readonly<Partial<PayoutConfig>> = {
  resultWaitMs: 4000,
  statusWaitMs: 3000,
  maxStatusQueries: 2,
  statusRetryDelayMs: 500,
  graceMs: 0,
};

export interface StackOptions {
  /** Per-payout workflow knobs over STACK_PAYOUT. */
  payoutConfig?: Partial<PayoutConfig> | undefined;
  /** Environment overrides, parsed by loadConfig over STACK_ENV. */
  env?: Record<string, string> | undefined;
  /** Simulator options over STACK_SANDBOX. */
  sandbox?: SandboxOptions | undefined;
  /** Per-payment workflow knobs over the config's and STACK_STK. */
  stkConfig?: Partial<StkPushConfig> | undefined;
  /** Use a fresh PostgreSQL database on this server (e.g. MALIPO_TEST_DATABASE_URL) instead of PGlite. */
  postgresUrl?: string | undefined;
  /** Log level of the app and worker (default silent; MALIPO_E2E_LOG overrides). */
  logLevel?: Config['LOG_LEVEL'] | undefined;
}

export interface RequestOpts {
  /** Bearer key; default the stack's all-scopes key; `null` sends no Authorization header. */
  key?: string | null;
  body?: unknown;
  /** Sent as is (application/json unless `contentType`). */
  raw?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface StackMerchant {
  merchantId: string;
  channelId: string;
  /** An all-scopes `test` key. */
  key: string;
  keyId: string;
}

export interface Stack extends StackMerchant {
  url: string;
  config: Config;
  db: DatabaseHandle['db'];
  dbHandle: DatabaseHandle;
  secretBox: SecretBox;
  callbackSecret: string;
  sandbox: Sandbox;
  temporal: Client;
  env: TestWorkflowEnvironment;
  worker: Worker;
  taskQueue: string;
  logger: Logger;
  payments: PaymentService;
  payouts: PayoutService;
  /** Any HTTP request to the app. */
  request(method: string, path: string, opts?: RequestOpts): Promise<TestResponse>;
  /** A JSON request with the stack's key (headers may override Authorization). */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<TestResponse>;
  /** Another merchant with its own simulator channel and all-scopes key. */
  newMerchant(name?: string): Promise<StackMerchant>;
  /** Another key of a merchant (default the stack's). */
  newKey(scopes: Scope[], merchantId?: string): Promise<IssuedKey>;
  /** Polls GET /v1/payments/:id until `predicate` holds (default: no longer pending). */
  waitForStatus(
    paymentId: string,
    // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
    predicate?: (payment: any) => boolean,
    timeoutMs?: number,
    key?: string,
    // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
  ): Promise<any>;
  /** The workflow's live state (query `paymentState`). */
  workflowState(paymentId: string): Promise<StkPaymentState>;
  /** A random valid Safaricom number the simulator has no scenario for (it waits for the handset). */
  freshPhone(): string;
  stop(): Promise<void>;
}

const ACTOR = { actor: 'e2e' };
const usedPhones = new Set<string>();

/** Polls `fn` until it returns something other than undefined. */
export async function eventually<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what = 'condition',
  stepMs = 200,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > end) {
      throw new Error(
        `${what} not met within ${timeoutMs} ms${lastErr ? ` (last error: ${String(lastErr)})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const closers = new Closers();
  const stopAll = () => closers.close();
  try {
    const env = await devServer();
    closers.push(() => env.teardown());
    const bundle = bundleWorkflows();
    bundle.catch(() => undefined);

    const dbHandle = opts.postgresUrl ? await openFreshPostgres(opts.postgresUrl) : await openDatabase({});
    closers.push(() => dbHandle.close());
    const db = dbHandle.db;

    // Listen first (on an ephemeral port), so the config's public URL can name the real port.
    let handler: http.RequestListener = (_req, res) => {
      res.statusCode = 503;
      res.end();
    };
    const server = http.createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(undefined)));
    });
    const port = (server.address() as AddressInfo).port;
    const url = `http://127.0.0.1:${port}`;

    const taskQueue = `malipo-e2e-${crypto.randomBytes(4).toString('hex')}`;
    const config = loadConfig({
      ...STACK_ENV,
      PORT: String(port),
      HOST: '127.0.0.1',
      MALIPO_PUBLIC_URL: url,
      MALIPO_DATA_DIR: '/tmp/malipo-e2e-unused',
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      ...opts.env,
    });
    const logLevel = (process.env.MALIPO_E2E_LOG as Config['LOG_LEVEL'] | undefined) ?? opts.logLevel;
    const logger = createLogger(logLevel ?? 'silent');
    const secretBox = new SecretBox(crypto.randomBytes(32));
    const callbackSecret = callbackSecretOf(config, secretBox);
    const temporal = env.client;

    const sandbox = createSandbox({ ...STACK_SANDBOX, ...opts.sandbox });
    closers.push(() => sandbox.close());

    const payments = new PaymentService({
      db,
      box: secretBox,
      temporal,
      taskQueue,
      logger,
      initiationWaitMs: config.MALIPO_INITIATION_WAIT_MS,
      stkConfig: { ...stkConfigFrom(config), ...STACK_STK, ...opts.stkConfig },
    });
    const payouts = new PayoutService({
      db,
      box: secretBox,
      temporal,
      taskQueue,
      logger,
      payoutConfig: { ...STACK_PAYOUT, ...opts.payoutConfig },
    });
    const app = createApp({
      config,
      db,
      temporal,
      logger,
      secretBox,
      sandbox: sandbox.router,
      payments,
      payouts,
      callbackSecret,
    });
    handler = app;

    const worker = await createMalipoWorker({
      connection: env.nativeConnection,
      taskQueue,
      deps: { config, db, logger, secretBox, callbackSecret, temporal },
      workflowBundle: await bundle,
    });
    const running = worker.run();
    running.catch(() => undefined);
    closers.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
    });

    async function newMerchant(name = 'E2E merchant'): Promise<StackMerchant> {
      const m = await createMerchant(db, { name }, ACTOR);
      const ch = await createChannel(
        db,
        secretBox,
        m.id,
        simulatorChannelInput(`${url}/sandbox/daraja`),
        ACTOR,
        DEVELOPMENT_CHANNEL_POLICY,
      );
      const k = await createApiKey(
        db,
        secretBox,
        { merchantId: m.id, environment: 'test', scopes: ['*'], label: 'e2e: all scopes' },
        ACTOR,
        OPERATOR,
      );
      return { merchantId: m.id, channelId: ch.id, key: k.key, keyId: k.id };
    }
    const main = await newMerchant();

    async function request(method: string, path: string, o: RequestOpts = {}): Promise<TestResponse> {
      const headers: Record<string, string> = {};
      const key = o.key === undefined ? main.key : o.key;
      if (key !== null) headers.authorization = `Bearer ${key}`;
      Object.assign(headers, o.headers);
      let body: string | undefined;
      if (o.raw !== undefined) body = o.raw;
      else if (o.body !== undefined) body = JSON.stringify(o.body);
      if (body !== undefined) headers['content-type'] ??= o.contentType ?? 'application/json';
      const res = await fetch(url + path, { method, headers, ...(body !== undefined ? { body } : {}) });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.status, headers: res.headers, body: parsed, text };
    }

    const stack: Stack = {
      ...main,
      url,
      config,
      db,
      dbHandle,
      secretBox,
      callbackSecret,
      sandbox,
      temporal,
      env,
      worker,
      taskQueue,
      logger,
      payments,
      payouts,
      request,
      api: (method, path, body, headers) =>
        request(method, path, { ...(body !== undefined ? { body } : {}), ...(headers ? { headers } : {}) }),
      newMerchant,
      newKey: (scopes, merchantId = main.merchantId) =>
        createApiKey(db, secretBox, { merchantId, environment: 'test', scopes }, ACTOR, OPERATOR),
      async waitForStatus(paymentId, predicate = (p) => p.status !== 'pending', timeoutMs = 60_000, key) {
        let last: unknown;
        try {
          return await eventually(
            async () => {
              const r = await request('GET', `/v1/payments/${paymentId}`, key ? { key } : {});
              last = r.body;
              return r.status === 200 && predicate(r.body) ? r.body : undefined;
            },
            timeoutMs,
            `payment ${paymentId}`,
            250,
          );
        } catch (err) {
          throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(last)}`);
        }
      },
      workflowState: (paymentId) => temporal.workflow.getHandle(paymentId).query(paymentStateQuery),
      freshPhone() {
        for (;;) {
          // 25471…: never a scenario phone (those are 2547000… and 254708374149)
          const phone = `25471${String(crypto.randomInt(0, 10_000_000)).padStart(7, '0')}`;
          if (!usedPhones.has(phone)) {
            usedPhones.add(phone);
            return phone;
          }
        }
      },
      stop: stopAll,
    };
    return stack;
  } catch (err) {
    await stopAll();
    throw err;
  }
}
