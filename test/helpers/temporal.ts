/**
 * Test environments for Temporal, built on the project's own binaries (never a download):
 * - timeSkipping(): the Java test server, whose clock jumps over timers;
 * - devServer(): a real Temporal CLI dev server with Malipo's search attributes (visibility queries work).
 * Start one per test file in `before`, tear it down in `after`.
 */
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { SEARCH_ATTRIBUTE_KEYS, SEARCH_ATTRIBUTES } from '../../src/domain/search-attributes';
import { requireTool, TEMPORAL_CLI, TEMPORAL_TEST_SERVER } from '../../src/temporal/tools';

let runtimeInstalled = false;
/** Quiet the SDK's own logging in tests (must run before any worker or env is created). */
export function installTestRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed by another helper in this process
  }
}

const INDEXED = temporal.api.enums.v1.IndexedValueType;

export async function timeSkipping(): Promise<TestWorkflowEnvironment> {
  installTestRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: requireTool(TEMPORAL_TEST_SERVER) } },
  });
  // The Java test server knows only predefined attributes until ours are added.
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => [
        name,
        type === 'Int' ? INDEXED.INDEXED_VALUE_TYPE_INT : INDEXED.INDEXED_VALUE_TYPE_KEYWORD,
      ]),
    ),
  });
  return env;
}

export async function devServer(): Promise<TestWorkflowEnvironment> {
  installTestRuntime();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: requireTool(TEMPORAL_CLI) },
      searchAttributes: SEARCH_ATTRIBUTE_KEYS,
      ip: '127.0.0.1',
      ui: false,
    },
  });
}
