/**
 * The Daraja simulator. `createSandbox()` gives a router serving, relative to its mount point,
 * Daraja under `/daraja/...`, the control API under `/__sandbox/...` and the handset page at
 * `/phone/:msisdn`. `startSandboxServer()` runs it standalone, with Daraja also at the root.
 */
import type { Server } from 'node:http';
import express, { type Router } from 'express';
import { createControlRouter } from './control';
import { createDarajaRouter } from './daraja-routes';
import { createHandsetRouter } from './handset';
import { SandboxState, type SandboxOptions } from './state';

export { customerAction } from './control';
export { maskC2bMsisdn } from './c2b';
export {
  B2C_SCENARIOS,
  type B2cScenario,
  b2cScenarioFor,
  type CallbackMode,
  type PushMode,
  QUEUE_TIMEOUT_RESULT,
  SCENARIOS,
  type Scenario,
  scenarioFor,
} from './scenarios';
export {
  type AsyncLedgerEntry,
  type C2bPaymentLedgerEntry,
  type C2bRegistration,
  type CallbackAttempt,
  DEFAULT_APP,
  type FaultRates,
  type LedgerEntry,
  type LedgerSnapshot,
  NO_FAULTS,
  type OutcomeOverride,
  type PayoutLedgerEntry,
  type ReversalLedgerEntry,
  type RejectedAsyncRequest,
  type RejectedPush,
  SANDBOX_PASSKEY,
  type SandboxApp,
  type SandboxOptions,
  SandboxState,
  type StatusQueryLedgerEntry,
  type TargetedAttempt,
} from './state';

export interface Sandbox {
  /** Mount wherever you like (`malipo dev` mounts it at `/sandbox`). */
  router: Router;
  /** Only the Daraja paths (what `/daraja` serves), for mounting at a root. */
  darajaRouter: Router;
  /** The ledger and control surface, in-process. */
  state: SandboxState;
  /** Cancels pending timers, aborts callback deliveries and drops held-back responses. */
  close(): Promise<void>;
}

export function createSandbox(opts: SandboxOptions = {}): Sandbox {
  const state = new SandboxState(opts);
  const darajaRouter = createDarajaRouter(state);
  const router = express.Router();
  router.use('/daraja', darajaRouter);
  router.use('/__sandbox', createControlRouter(state));
  router.use('/phone', createHandsetRouter(state));
  return { router, darajaRouter, state, close: () => state.close() };
}

export interface SandboxServer {
  /** e.g. `http://127.0.0.1:4010`: the Daraja base URL (also served under `/sandbox/daraja`). */
  url: string;
  port: number;
  sandbox: Sandbox;
  close(): Promise<void>;
}

/** Standalone simulator (`malipo sandbox --port 4010`): router at `/sandbox`, Daraja paths also at the root. */
export async function startSandboxServer(
  opts: SandboxOptions & { port: number; host?: string },
): Promise<SandboxServer> {
  const sandbox = createSandbox(opts);
  const app = express();
  app.disable('x-powered-by');
  app.use('/sandbox', sandbox.router);
  app.use(sandbox.darajaRouter);
  const host = opts.host ?? '127.0.0.1';
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(opts.port, host, (err?: Error) => (err ? reject(err) : resolve(s)));
    s.once('error', reject);
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    sandbox,
    async close() {
      await sandbox.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
