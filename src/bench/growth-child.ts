/**
 * The part of `malipo bench growth` that runs inside Malipo's processes (src/bench/malipo-process.ts),
 * over the IPC channel the bench stack already opens: on PGlite the database lives in that process,
 * so rows are seeded, counted and EXPLAINed there, and the worker's heap is read where it lives.
 *
 * Messages (each answered with one message of the same type):
 * - `growthSeed` `{ from, n }`: inserts payments `from … from+n-1` of {@link seedPayments} for the bench
 *   merchant, then ANALYZEs the table;
 * - `growthCount`: the merchant's payments by status, and the pending ones the bench created (not seeded);
 * - `growthExplain` `{ filters }`: EXPLAIN ANALYZE of the list query of `GET /v1/payments` per filter;
 * - `growthMemory`: the process's RSS and V8 heap after a full garbage collection.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { CompiledQuery, sql } from 'kysely';
import type { Db } from '../db';
import { pageQuery } from '../db/paging';
import { type PaymentFilter, PaymentRepository } from '../payments/repository';
import { SEED_CHANNEL, seedPayments } from './dashboard';

/** A filter of `GET /v1/payments` that the bench times and EXPLAINs. */
export type ListFilter = Pick<PaymentFilter, 'status' | 'reference' | 'phone' | 'search'>;

export interface GrowthSeedReply {
  type: 'growthSeed';
  inserted: number;
  ms: number;
}

export interface GrowthCountReply {
  type: 'growthCount';
  total: number;
  byStatus: Record<string, number>;
  /** Pending payments the bench created through the API (the seeded ones are on their own channel). */
  livePending: number;
}

export interface GrowthExplainReply {
  type: 'growthExplain';
  plans: Array<{ filter: ListFilter; plan: string[] }>;
}

export interface GrowthMemoryReply {
  type: 'growthMemory';
  rss: number;
  heapUsed: number;
  external: number;
}

let gc: (() => void) | undefined;
function collect(): void {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
}

/** Answers the growth bench's messages; `merchantId` is the bench merchant's (unset in a worker-only process). */
export function answerGrowthRequests(db: Db, merchantId: string | undefined): void {
  const reply = (m: unknown) => process.send?.(m);
  process.on('message', (m: { type?: string; from?: number; n?: number; filters?: ListFilter[] }) => {
    const run = async () => {
      if (m?.type === 'growthMemory') {
        collect();
        const u = process.memoryUsage();
        reply({ type: 'growthMemory', rss: u.rss, heapUsed: u.heapUsed, external: u.external });
        return;
      }
      if (!merchantId) return;
      if (m?.type === 'growthSeed') {
        const t0 = performance.now();
        const seeded = await seedPayments(db, merchantId, m.n ?? 0, new Date(), 1000, m.from ?? 0);
        // as autovacuum would after a bulk load: the planner chooses by the table's real statistics
        await sql`analyze payments`.execute(db);
        reply({ type: 'growthSeed', inserted: seeded.total, ms: performance.now() - t0 });
      } else if (m?.type === 'growthCount') {
        const rows = await db
          .selectFrom('payments')
          .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
          .where('merchant_id', '=', merchantId)
          .groupBy('status')
          .execute();
        const live = await db
          .selectFrom('payments')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('merchant_id', '=', merchantId)
          .where('status', '=', 'pending')
          .where('channel_id', '!=', SEED_CHANNEL)
          .executeTakeFirstOrThrow();
        const byStatus = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
        const total = Object.values(byStatus).reduce((a, b) => a + b, 0);
        reply({ type: 'growthCount', total, byStatus, livePending: Number(live.n) });
      } else if (m?.type === 'growthExplain') {
        const plans: GrowthExplainReply['plans'] = [];
        for (const filter of m.filters ?? []) {
          // the very statement GET /v1/payments runs for a first page
          const q = pageQuery(new PaymentRepository(db).filtered(merchantId, 'test', filter), {
            limit: 50,
          }).compile();
          const r = await db.executeQuery<{ 'QUERY PLAN': string }>(
            CompiledQuery.raw(`explain (analyze, costs off, timing off) ${q.sql}`, [...q.parameters]),
          );
          plans.push({ filter, plan: r.rows.map((row) => row['QUERY PLAN']) });
        }
        reply({ type: 'growthExplain', plans });
      }
    };
    run().catch((err) => reply({ type: m?.type, error: err instanceof Error ? err.message : String(err) }));
  });
}
