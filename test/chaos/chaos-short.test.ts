/**
 * The short chaos run CI does on every test command: ~200 payments through every simulator fault,
 * forged callbacks, one worker kill, one API kill and one Temporal dev server restart, beside 30 B2C
 * payouts through every B2C fault and 30 C2B payments whose confirmations are duplicated and reordered,
 * all checked against the simulator's ledger (see src/chaos/run.ts). Several processes cannot share
 * PGlite, so it runs on PostgreSQL: MALIPO_TEST_DATABASE_URL (scripts/with-postgres sets it), else a
 * throwaway server. The table it prints is the run's evidence.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runChaos } from '../../src/chaos/run';

const url = process.env.MALIPO_TEST_DATABASE_URL;

it('malipo chaos, short: zero violations', async (t) => {
  const r = await runChaos({
    payments: Number(process.env.MALIPO_CHAOS_PAYMENTS ?? 200),
    payouts: Number(process.env.MALIPO_CHAOS_PAYOUTS ?? 30),
    c2b: Number(process.env.MALIPO_CHAOS_C2B ?? 30),
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
  for (const line of r.table.split('\n')) t.diagnostic(line);
  assert.equal(r.violations.length, 0, `${r.table}\n${r.violations.slice(0, 30).join('\n')}`);
  // the run drove every kind: a flow that silently drove nothing would pass every check
  assert.match(r.table, /^b2c payouts\s+30\s/m);
  assert.match(r.table, /^c2b confirmations\s+30\s/m);
});
