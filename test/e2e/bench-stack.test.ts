/**
 * The stack `malipo bench` measures, end to end and briefly: Malipo in its own processes (one on
 * PGlite; an API and a worker apart on PostgreSQL when MALIPO_TEST_DATABASE_URL is set), payments
 * through the real API to verified webhooks, the database round trips counted over IPC, the CPU
 * and RSS read from /proc, one push each in the simulator's ledger, and every child gone after stop.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResourceSampler } from '../../src/bench/proc';
import { type BenchStack, startBenchStack } from '../../src/bench/stack';
import { openFreshPostgres } from '../helpers/db';

const MiB = 1024 * 1024;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function payAndCheck(s: BenchStack, shape: { processes: number }): Promise<void> {
  assert.equal(s.malipo.pids.length, shape.processes);
  assert.ok(s.malipo.workerPid !== undefined && s.malipo.pids.includes(s.malipo.workerPid));
  const sampler = new ResourceSampler(s.sampledPids());
  sampler.start();
  const before = await s.dbQueries();

  const references = ['bt1', 'bt2', 'bt3'];
  for (const reference of references) {
    const r = await fetch(`${s.url}/v1/payments/stk-push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ phone: s.payingPhone(), amount: 10, reference }),
    });
    const body = (await r.json()) as { id?: string };
    assert.equal(r.status, 202, JSON.stringify(body));
    const delivery = await s.waitForWebhook(body.id as string, 30_000);
    assert.match(delivery.eventId, /^evt_/);
  }
  assert.equal(s.badSignatures, 0);

  const after = await s.dbQueries();
  const inserted = (stats: typeof after) =>
    [...stats.byStatement].find(([k]) => k.startsWith('insert into "payments"'))?.[1].count ?? 0;
  assert.equal(inserted(after) - inserted(before), 3, 'one payments row per payment, counted over IPC');
  assert.ok(after.total - before.total >= 3 * 10, `${after.total - before.total} round trips`);

  const w = sampler.window();
  sampler.stop();
  assert.ok(w.malipoCpuS > 0, `Malipo CPU ${w.malipoCpuS} s`);
  assert.ok(w.serverCpuS > 0, `server CPU ${w.serverCpuS} s`);
  assert.ok(w.simulatorCpuS > 0, `simulator CPU ${w.simulatorCpuS} s`);
  assert.ok(w.workerPeakRss > 50 * MiB, `worker RSS ${w.workerPeakRss / MiB} MiB`);
  assert.ok(w.malipoPeakRss >= w.workerPeakRss);

  const ledger = await s.simulator.ledger();
  for (const reference of references) assert.equal(ledger.pushesByAccountReference[reference], 1, reference);
}

describe('bench stack', () => {
  it('on PGlite: one Malipo process carries payments to verified webhooks; its death is reported; stop leaves no child', async () => {
    const s = await startBenchStack();
    const pids = [...s.malipo.pids, s.simulator.pid as number, s.devServer.process.pid as number];
    try {
      await payAndCheck(s, { processes: 1 });
      // a Malipo process that dies mid-run fails the bench's next reading instead of hanging it
      const pid = s.malipo.pids[0] as number;
      process.kill(pid, 'SIGKILL');
      while (alive(pid)) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 50));
      await assert.rejects(s.dbQueries(), /the malipo process exited/);
    } finally {
      await s.stop();
    }
    for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} still runs`);
  });

  // as the DB tests do: a PostgreSQL pass when the suite has a server (.ci/run and scripts/with-postgres)
  const postgres = process.env.MALIPO_TEST_DATABASE_URL;
  if (postgres) {
    it('on PostgreSQL: the API and the worker run as two processes', async () => {
      const db = await openFreshPostgres(postgres);
      try {
        const s = await startBenchStack({ databaseUrl: db.url });
        const pids = [...s.malipo.pids];
        try {
          await payAndCheck(s, { processes: 2 });
        } finally {
          await s.stop();
        }
        for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} still runs`);
      } finally {
        await db.close();
      }
    });
  }
});
