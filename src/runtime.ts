/** Wires the processes: the API, the worker, and `malipo dev` (both plus a dev server and the sandbox). */
import fs from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { DefaultLogger, type LogLevel, Runtime, type Worker } from '@temporalio/worker';
import { type ActivityDeps, createActivities } from '../activities';
import { type DevCredentials, ensureDevCredentials } from './admin/dev-bootstrap';
import { registerDevC2b } from './c2b/dev';
import type { Config } from './config';
import { type DatabaseHandle, openDatabase } from './db';
import { callbackSecretOf, createApp } from './http/app';
import { createSandbox } from './sandbox';
import { createLogger, type Logger } from './logger';
import { secretBoxFor } from './platform/encryption-key';
import { connectClient, connectWorker } from './temporal/connection';
import { type DevServer, startDevServer } from './temporal/dev-server';
import { type CreateWorkerOptions, createWorker, workerTuningFrom } from './temporal/worker';
import { Closers } from './closers';

/**
 * Malipo's worker: every workflow and activity, over these dependencies. Its activities start new
 * events' webhook deliveries through a client on the worker's own connection, so the server hands
 * each delivery's first task straight back to this worker (eager start).
 */
export async function createMalipoWorker(
  opts: Omit<CreateWorkerOptions, 'activities' | 'namespace' | 'taskQueue'> & {
    taskQueue?: string;
    deps: Omit<ActivityDeps, 'workerClient'>;
  },
): Promise<Worker> {
  const { deps, ...worker } = opts;
  const namespace = deps.config.TEMPORAL_NAMESPACE;
  return createWorker({
    ...worker,
    namespace,
    taskQueue: opts.taskQueue ?? deps.config.TEMPORAL_TASK_QUEUE,
    activities: createActivities({
      ...deps,
      workerClient: new Client({ connection: opts.connection, namespace }),
    }),
  });
}

export interface Running {
  config: Config;
  logger: Logger;
  db: DatabaseHandle;
  temporal: Client;
  temporalAddress: string;
  devServer?: DevServer;
  worker?: Worker;
  http?: Server;
  url?: string;
  /** Development mode with `devBootstrap`: the demo merchant's key, for the banner. */
  devCredentials?: DevCredentials;
  stop(): Promise<void>;
}

export interface StartOptions {
  api: boolean;
  worker: boolean;
  /** Start a Temporal dev server when TEMPORAL_ADDRESS is unset. */
  embeddedTemporal: boolean;
  /** Create (once) the demo merchant, simulator channel and test key; ignored in production mode. */
  devBootstrap?: boolean;
  logger?: Logger;
}

let sdkRuntimeInstalled = false;
/** The Temporal SDK logs through its own runtime; keep it at warn unless we log more. */
function installSdkRuntime(level: Config['LOG_LEVEL']): void {
  if (sdkRuntimeInstalled) return;
  sdkRuntimeInstalled = true;
  const sdkLevel: LogLevel =
    level === 'debug' || level === 'trace' ? 'DEBUG' : level === 'silent' ? 'ERROR' : 'WARN';
  try {
    Runtime.install({ logger: new DefaultLogger(sdkLevel) });
  } catch {
    // a runtime was installed earlier in this process (tests)
  }
}

export async function start(config: Config, opts: StartOptions): Promise<Running> {
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  installSdkRuntime(config.LOG_LEVEL);
  const stack = new Closers();
  const stopAll = () => stack.close((err, part) => logger.warn({ err, part }, 'error while stopping'));
  try {
    fs.mkdirSync(config.dataDir, { recursive: true });

    let temporalAddress = config.TEMPORAL_ADDRESS;
    let devServer: DevServer | undefined;
    if (!temporalAddress) {
      if (!opts.embeddedTemporal) throw new Error('TEMPORAL_ADDRESS is required for this command');
      devServer = await startDevServer({
        dbFile: path.join(config.dataDir, 'temporal.db'),
        port: config.TEMPORAL_PORT,
        uiPort: config.TEMPORAL_UI_PORT,
        namespace: config.TEMPORAL_NAMESPACE,
        onOutput: (line) => logger.debug({ source: 'temporal' }, line),
      });
      stack.add('temporal dev server', () => devServer!.stop());
      temporalAddress = devServer.address;
    }

    const db = await openDatabase({
      url: config.DATABASE_URL?.reveal(),
      dataDir: path.join(config.dataDir, 'db'),
    });
    stack.add('database', () => db.close());
    const secretBox = secretBoxFor(config, logger);
    const devCredentials =
      opts.devBootstrap && !config.isProduction
        ? await ensureDevCredentials({ config, db: db.db, secretBox })
        : undefined;

    const temporal = await connectClient(temporalAddress, config);
    stack.add('temporal client', () => temporal.connection.close());

    let worker: Worker | undefined;
    if (opts.worker) {
      const connection = await connectWorker(temporalAddress, config);
      worker = await createMalipoWorker({
        connection,
        deps: {
          config,
          db: db.db,
          logger,
          secretBox,
          callbackSecret: callbackSecretOf(config, secretBox),
          temporal,
        },
        tuning: workerTuningFrom(config),
      });
      const running = worker.run();
      stack.add('worker', async () => {
        if (worker!.getState() === 'RUNNING') worker!.shutdown();
        await running;
        await connection.close();
      });
      running.catch((err) => logger.fatal({ err }, 'worker stopped'));
    }

    let http: Server | undefined;
    let url: string | undefined;
    if (opts.api) {
      // The Daraja simulator rides along in development mode; production mode never mounts it.
      let sandboxRouter: import('express').Router | undefined;
      if (config.MALIPO_SANDBOX && !config.isProduction) {
        const sandbox = createSandbox({
          log: (msg, extra) => logger.debug({ source: 'sandbox', ...extra }, msg),
        });
        stack.add('sandbox', () => sandbox.close());
        sandboxRouter = sandbox.router;
      }
      const app = createApp({ config, db: db.db, temporal, logger, secretBox, sandbox: sandboxRouter });
      http = await new Promise<Server>((resolve, reject) => {
        const srv = app.listen(config.PORT, config.HOST, () => resolve(srv));
        srv.once('error', reject);
      });
      const server = http;
      stack.add('http', () => new Promise((r) => server.close(() => r(undefined))));
      const addr = http.address();
      url = `http://${config.HOST}:${typeof addr === 'object' && addr ? addr.port : config.PORT}`;
      // the simulator keeps C2B registrations in memory: register the demo paybill's URLs on every start
      if (sandboxRouter && devCredentials?.c2bChannelId) {
        await registerDevC2b(
          {
            db: db.db,
            box: secretBox,
            publicUrl: config.publicUrl,
            callbackSecret: callbackSecretOf(config, secretBox),
            logger,
          },
          devCredentials.merchantId,
          devCredentials.c2bChannelId,
        );
      }
    }

    return {
      config,
      logger,
      db,
      temporal,
      temporalAddress,
      ...(devServer ? { devServer } : {}),
      ...(worker ? { worker } : {}),
      ...(http ? { http } : {}),
      ...(url ? { url } : {}),
      ...(devCredentials ? { devCredentials } : {}),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Stops `running` on SIGINT/SIGTERM; a second signal exits at once. */
export function stopOnSignals(running: Running): void {
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    running.logger.info({ signal: sig }, 'stopping');
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
