/**
 * The processes `malipo bench` measures as Malipo's: the API, the worker and the database client
 * in one process (role `all`; PGlite runs inside it, the embedded default), or on PostgreSQL an
 * API process and a worker process (roles `api` and `worker`, as `malipo api` and `malipo worker`
 * run). The floor's own worker runs beside Malipo's worker and the bare express endpoint beside
 * the API, so the floors are served by processes of the same shape. The load generator and the
 * webhook receiver stay in the bench process, so their work is not counted as Malipo's.
 *
 * Started by src/bench/stack.ts with an IPC channel: it prints `malipo ready <json>` once it
 * serves, answers `{ type: 'dbStats' }` with its database round trips, and stops on SIGTERM.
 *
 *   node --import tsx src/bench/malipo-process.ts '<MalipoProcessInput as JSON>'
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import express from 'express';
import { simulatorChannelInput } from '../admin/dev-bootstrap';
import { Closers } from '../closers';
import { loadConfig } from '../config';
import { openDatabase } from '../db';
import { callbackSecretOf, createApp } from '../http/app';
import { createLogger } from '../logger';
import { channelUrlPolicy, createChannel } from '../platform/channels';
import { createApiKey, OPERATOR } from '../platform/keys';
import { createMerchant } from '../platform/merchants';
import { SecretBox } from '../platform/secret-box';
import { connectClient, connectWorker } from '../temporal/connection';
import { createMalipoWorker } from '../runtime';
import { bundleWorkflows, type CreateWorkerOptions, workerTuningFrom } from '../temporal/worker';
import { floorSignal } from './floor-workflow';
import { answerGrowthRequests } from './growth-child';

export const FLOOR_TASK_QUEUE = 'malipo-bench-floor';
export const TASK_QUEUE = 'malipo-bench';

export interface MalipoProcessInput {
  /**
   * `all`: API and worker in one process (the embedded default, and the only shape PGlite allows).
   * `api` / `worker`: one of the two, as `malipo api` and `malipo worker` run them on PostgreSQL.
   */
  role: 'all' | 'api' | 'worker';
  temporalAddress: string;
  dataDir: string;
  databaseUrl?: string | undefined;
  simulatorUrl: string;
  /** 32-byte key (hex) of the secret box, shared by the API and worker processes. */
  encryptionKey: string;
  /** The worker process's MALIPO_PUBLIC_URL: the API's URL, which Daraja calls back. */
  publicUrl?: string;
  /** Worker options over the configured ones (the tuning experiments). */
  tuning?: CreateWorkerOptions['tuning'];
  /** Extra environment for loadConfig. */
  env?: Record<string, string>;
}

/** What the process prints after `malipo ready `; the worker-only process serves no HTTP. */
export interface MalipoProcessReady {
  url?: string;
  key?: string;
  expressUrl?: string;
  /** The bench merchant, whose key `key` is. */
  merchantId?: string;
}

export interface DbStatsMessage {
  type: 'dbStats';
  total: number;
  byStatement: Array<[string, { count: number; ms: number }]>;
}

/** The statement a query runs, without its parameter list: `select … from "payments" where …`. */
function statementOf(sqlText: string): string {
  return sqlText
    .replace(/\s+/g, ' ')
    .replace(/\(\$\d+(, \$\d+)*\)/g, '(…)')
    .slice(0, 140);
}

async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2] ?? '{}') as MalipoProcessInput;
  const serveApi = input.role !== 'worker';
  const runWorker = input.role !== 'api';
  const closers = new Closers();
  process.once('SIGTERM', () => {
    void closers.close().finally(() => process.exit(0));
  });
  // the SDK's own logs (worker state changes) are not the bench's output
  Runtime.install({ logger: new DefaultLogger('WARN') });

  const bundles = runWorker
    ? Promise.all([
        bundleWorkflows(),
        bundleWorkflowCode({
          workflowsPath: require.resolve('./floor-workflow'),
          logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error },
        }),
      ])
    : undefined;
  bundles?.catch(() => undefined);

  const stats = { total: 0, byStatement: new Map<string, { count: number; ms: number }>() };
  const dbHandle = await openDatabase({
    url: input.databaseUrl,
    dataDir: path.join(input.dataDir, 'db'),
    onQuery: (sqlText, ms) => {
      stats.total++;
      const key = statementOf(sqlText);
      const st = stats.byStatement.get(key) ?? { count: 0, ms: 0 };
      st.count++;
      st.ms += ms;
      stats.byStatement.set(key, st);
    },
  });
  closers.push(() => dbHandle.close());
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'dbStats') {
      const reply: DbStatsMessage = {
        type: 'dbStats',
        total: stats.total,
        byStatement: [...stats.byStatement],
      };
      process.send?.(reply);
    }
  });
  const db = dbHandle.db;

  // The app listens first so the config can name its real port.
  let handler: http.RequestListener = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = serveApi ? await listen(http.createServer((req, res) => handler(req, res))) : undefined;
  if (server) closers.push(() => closeServer(server));
  const port = server ? (server.address() as AddressInfo).port : 0;
  const url = server ? `http://127.0.0.1:${port}` : undefined;

  const config = loadConfig({
    LOG_LEVEL: 'silent',
    MALIPO_MODE: 'development',
    PORT: String(port),
    HOST: '127.0.0.1',
    MALIPO_PUBLIC_URL: url ?? input.publicUrl ?? 'http://127.0.0.1:0',
    MALIPO_DATA_DIR: input.dataDir,
    TEMPORAL_ADDRESS: input.temporalAddress,
    TEMPORAL_TASK_QUEUE: TASK_QUEUE,
    MALIPO_RATE_LIMIT_CREATE_PER_MINUTE: '100000000',
    MALIPO_RATE_LIMIT_PER_MINUTE: '100000000',
    MALIPO_RATE_LIMIT_STORE: 'memory',
    ...input.env,
  });
  const logger = createLogger('silent');
  const secretBox = new SecretBox(Buffer.from(input.encryptionKey, 'hex'));
  const callbackSecret = callbackSecretOf(config, secretBox);
  const temporal = await connectClient(input.temporalAddress, config);
  closers.push(() => temporal.connection.close());
  const ready: MalipoProcessReady = {};

  if (bundles) {
    const [bundle, floorBundle] = await bundles;
    const connection = await connectWorker(input.temporalAddress, config);
    closers.push(() => connection.close());
    const worker = await createMalipoWorker({
      connection,
      taskQueue: TASK_QUEUE,
      deps: { config, db, logger, secretBox, callbackSecret, temporal },
      workflowBundle: bundle,
      tuning: { ...workerTuningFrom(config), ...input.tuning },
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
  }

  if (url) {
    handler = createApp({ config, db, temporal, logger, secretBox, callbackSecret });
    const actor = { actor: 'bench' };
    const merchant = await createMerchant(db, { name: 'Bench merchant' }, actor);
    await createChannel(
      db,
      secretBox,
      merchant.id,
      simulatorChannelInput(input.simulatorUrl),
      actor,
      channelUrlPolicy(config),
    );
    const { key } = await createApiKey(
      db,
      secretBox,
      { merchantId: merchant.id, environment: 'test', scopes: ['*'], label: 'bench' },
      actor,
      OPERATOR,
    );

    // The bare express endpoint of the floor.
    const bare = express();
    bare.use(express.json());
    bare.post('/pay', (req, res) => {
      res.status(202).json({ id: crypto.randomUUID(), status: 'pending', amount: req.body?.amount });
    });
    const bareServer = await listen(http.createServer(bare));
    closers.push(() => closeServer(bareServer));
    Object.assign(ready, {
      url,
      key,
      merchantId: merchant.id,
      expressUrl: `http://127.0.0.1:${(bareServer.address() as AddressInfo).port}`,
    });
  }
  answerGrowthRequests(db, ready.merchantId);
  process.stdout.write(`malipo ready ${JSON.stringify(ready)}\n`);
}

function listen(server: http.Server): Promise<http.Server> {
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(() => r(undefined)));
}

// Only when run as the bench's child: src/bench/stack.ts imports this file's constants and types.
if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`malipo bench process failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
