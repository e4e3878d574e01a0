/**
 * `malipo bench growth` at tiny sizes, end to end on the bench stack: the rows seeded inside Malipo's
 * process bring the merchant's payments to each size exactly, the pending payments wait (their
 * customers never answer), every list filter is timed and EXPLAINed, and the JSON, markdown and SVG
 * have their shape. No timing is asserted.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { type GrowthOptions, type GrowthResult, readPlan, runGrowthBench } from '../../src/bench/growth';
import { openFreshPostgres } from '../helpers/db';

const SIZES = [100, 300];
const PENDING = [4, 9];

async function runAndCheck(extra: Partial<GrowthOptions>): Promise<void> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'malipo-growth-'));
  try {
    const r = await runGrowthBench({
      sizes: SIZES.join(','),
      pending: PENDING.join(','),
      seconds: '1',
      concurrency: '2',
      requests: '3',
      out,
      silent: true,
      ...extra,
    });
    const rows = r.windows.filter((w) => w.phase === 'rows');
    const pending = r.windows.filter((w) => w.phase === 'pending');
    assert.deepEqual(
      rows.map((w) => w.rows),
      SIZES,
      'each size is the merchant’s payments exactly',
    );
    // the warm-up's payments and the first window's are real rows: only the rest was seeded
    assert.ok(r.seeded.rows > 0 && r.seeded.rows < SIZES.at(-1)!, `seeded ${r.seeded.rows}`);
    assert.deepEqual(
      pending.map((w) => w.pendingAtStart),
      PENDING,
      'each target is pending when its window starts',
    );
    for (const w of pending) {
      assert.ok(w.openWorkflows === null || w.openWorkflows >= w.pendingAtStart, JSON.stringify(w));
    }
    for (const w of r.windows) {
      assert.ok(w.completed > 0, `${w.phase} ${w.rows}: ${JSON.stringify(w.errors)}`);
      assert.deepEqual(w.errors, {});
      assert.ok(w.cpuMsPerPayment.malipo > 0 && w.worker.rssMiB > 0 && w.worker.heapMiB > 0);
    }
    const filters = [
      'first page',
      'status=success',
      'status=needs_review',
      'reference',
      'phone',
      'search (receipt)',
    ];
    for (const w of rows) assert.deepEqual(Object.keys(w.list), filters);
    for (const w of rows) for (const f of filters) assert.equal(w.list[f]?.count, 3);
    assert.deepEqual(
      r.plans.map((p) => p.filter),
      filters,
    );
    for (const p of r.plans) assert.ok(p.scans.length > 0 && p.plan.length > 0, JSON.stringify(p));
    // a one-row filter finds its row through its own index (migrations 014 and 015), not a scan of the merchant's rows
    const scansOf = (f: string) => r.plans.find((p) => p.filter === f)?.scans.join(', ') ?? '';
    assert.match(scansOf('reference'), /payments_merchant_reference/);
    assert.match(scansOf('phone'), /payments_merchant_phone/);
    assert.equal(r.memory.perPending.length, PENDING.length);
    assert.equal(r.timings.MALIPO_STK_DEADLINE_SECONDS, '180');

    const json = JSON.parse(fs.readFileSync(path.join(out, 'growth-latest.json'), 'utf8')) as GrowthResult;
    assert.equal(json.kind, 'growth');
    assert.equal(json.windows.length, SIZES.length + PENDING.length);
    assert.deepEqual(json, JSON.parse(fs.readFileSync(path.join(out, `growth-${r.database}.json`), 'utf8')));
    const md = fs.readFileSync(path.join(out, 'growth-latest.md'), 'utf8');
    assert.match(md, /\| payments in the database \| payments\/s \|/);
    assert.match(md, /\| `status=success` \|/);
    const svg = fs.readFileSync(path.join(out, 'growth.svg'), 'utf8');
    assert.match(svg, /^<svg xmlns/);
    assert.equal(svg.match(/<svg /g)?.length, 5, 'one outer SVG and four panels');
    assert.ok(svg.trimEnd().endsWith('</svg>'));
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

describe('bench growth', () => {
  it('reads the scans and the rows they read from an EXPLAIN ANALYZE plan', () => {
    const plan = [
      'Limit (actual rows=1.00 loops=1)',
      '  ->  Bitmap Heap Scan on payments (actual rows=1.00 loops=1)',
      '        Rows Removed by Filter: 99',
      '        ->  Bitmap Index Scan on payments_merchant_created (actual rows=100.00 loops=1)',
    ];
    assert.deepEqual(readPlan(plan), {
      scans: ['Bitmap Heap Scan payments', 'Bitmap Index Scan payments_merchant_created'],
      rowsExamined: 100,
    });
  });

  it('on PGlite: seeds to each size, holds the pending payments, writes the JSON, table and plot', async () => {
    await runAndCheck({});
  });

  const postgres = process.env.MALIPO_TEST_DATABASE_URL;
  if (postgres) {
    it('on PostgreSQL: the same, with the API and the worker apart', async () => {
      const db = await openFreshPostgres(postgres);
      try {
        await runAndCheck({ databaseUrl: db.url });
      } finally {
        await db.close();
      }
    });
  }
});
