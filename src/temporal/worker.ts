/** Builds the Temporal worker that runs Malipo's workflows and activities. */
import path from 'node:path';
import { bundleWorkflowCode, type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Config } from '../config';
import { PROJECT_ROOT } from './tools';

export const WORKFLOWS_PATH = path.join(PROJECT_ROOT, 'workflows', 'index.ts');

export type WorkerTuning = NonNullable<CreateWorkerOptions['tuning']>;

/**
 * Worker options from configuration. An unset key is left out, so the SDK's own default applies
 * (for `maxCachedWorkflows`, one sized from the V8 heap limit).
 */
export function workerTuningFrom(config: Pick<Config, 'MALIPO_WORKER_MAX_CACHED_WORKFLOWS'>): WorkerTuning {
  return config.MALIPO_WORKER_MAX_CACHED_WORKFLOWS === undefined
    ? {}
    : { maxCachedWorkflows: config.MALIPO_WORKER_MAX_CACHED_WORKFLOWS };
}

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: object;
  /** A prebuilt bundle (tests build one per file); otherwise workflows/ is bundled at start. */
  workflowBundle?: { code: string };
  tuning?: Partial<
    Pick<
      WorkerOptions,
      | 'maxCachedWorkflows'
      | 'maxConcurrentWorkflowTaskExecutions'
      | 'maxConcurrentActivityTaskExecutions'
      | 'maxConcurrentWorkflowTaskPolls'
      | 'maxConcurrentActivityTaskPolls'
    >
  >;
}

export async function bundleWorkflows(workflowsPath = WORKFLOWS_PATH): Promise<{ code: string }> {
  return bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
}

/** The bundler logs every module at INFO; keep its warnings and errors only. */
const quietBundlerLogger = {
  log: () => {},
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: (m: string, meta?: unknown) => console.warn(m, meta ?? ''),
  error: (m: string, meta?: unknown) => console.error(m, meta ?? ''),
};

export async function createWorker(opts: CreateWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    activities: opts.activities,
    workflowBundle: opts.workflowBundle ?? (await bundleWorkflows()),
    ...opts.tuning,
  });
}
