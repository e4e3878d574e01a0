/**
 * The short chaos run CI does on every test command: ~200 payments through every simulator fault,
 * forged callbacks, one worker kill, one API kill and one Temporal dev server restart, checked
 * against the simulator's ledger (see src/chaos/run.ts). Several processes cannot share PGlite, so it
 * runs on PostgreSQL: MALIPO_TEST_DATABASE_URL (scripts/with-postgres sets it), else a throwaway server.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runChaos } from '../../src/chaos/run';

const url = process.env.MALIPO_TEST_DATABASE_URL;

it('malipo chaos, short: zero violations', async () => {
  const r = await runChaos({
    payments: Number(process.env.MALIPO_CHAOS_PAYMENTS ?? 200),
    databaseUrl: url,
    workers: 1,
    apis: 1,
    workerKills: 1,
    apiKills: 1,
    temporalRestarts: 1,
    concurrency: 20,
    deadlineSeconds: 60,
    seed: 42,
    log: () => undefined,
  });
  assert.equal(r.violations.length, 0, `${r.table}\n${r.violations.slice(0, 30).join('\n')}`);
});
