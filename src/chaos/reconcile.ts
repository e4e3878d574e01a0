/**
 * `malipo chaos --reconcile`: the run goes on past the deadline until every payment and payout that
 * was `needs_review` there has had its reconciliation (its workflow has ended), on a schedule
 * compressed by MALIPO_RECONCILE_SCHEDULE_SCALE, and reports how many were in review before and
 * after, and why each one that stayed there could not be named.
 */
import type { Client } from '@temporalio/client';
import type { Db } from '../db';
import { RECONCILE_HORIZON_MS } from '../domain/reconciliation';
import type { LedgerSnapshot } from '../sandbox';

/** The schedule's scale under `--reconcile`: 5 min → 60 ms, 1 h → 0.7 s, 1 day → 17 s, 7 days → 121 s. */
export const CHAOS_RECONCILE_SCALE = 0.0002;

type LedgerPush = LedgerSnapshot['pushes'][number];
type LedgerPayout = LedgerSnapshot['payouts'][number];

/** The ids in review, at one moment. */
export interface ReviewSnapshot {
  payments: string[];
  payouts: string[];
}

export async function reviewSnapshot(db: Db, merchantId: string): Promise<ReviewSnapshot> {
  const ids = async (table: 'payments' | 'payouts') =>
    (
      await db
        .selectFrom(table)
        .select('id')
        .where('merchant_id', '=', merchantId)
        .where('status', '=', 'needs_review')
        .execute()
    ).map((r) => r.id as string);
  return { payments: await ids('payments'), payouts: await ids('payouts') };
}

/**
 * Waits until the workflow of every id has ended (settled by reconciliation, or at the end of the
 * schedule still in review), or `untilMs` passes. Resolves to the ids still running.
 */
export async function waitForWorkflowsToEnd(
  client: Client,
  ids: string[],
  untilMs: number,
  log: (line: string) => void,
): Promise<string[]> {
  let running = [...ids];
  for (;;) {
    const still: string[] = [];
    for (const id of running) {
      try {
        const d = await client.workflow.getHandle(id).describe();
        if (d.status.name === 'RUNNING') still.push(id);
      } catch {
        still.push(id); // the server answering slowly: ask again
      }
    }
    running = still;
    if (running.length === 0 || Date.now() > untilMs) return running;
    log(`${running.length} review workflows still reconciling`);
    await new Promise((r) => setTimeout(r, 5000));
  }
}

/** How long `--reconcile` waits after the deadline at most: both grace windows, the compressed schedule, and slack. */
export function reconcileBudgetMs(graceSeconds: number, scale: number): number {
  return graceSeconds * 1000 + RECONCILE_HORIZON_MS * scale + 300_000;
}

/** What the simulator did to a push, as a short label: the fault a review stems from. */
export function pushFault(push: LedgerPush | undefined): string {
  if (!push) return 'no push accepted';
  const delivered = push.callbacks.some((c) => c.ok);
  const parts = [
    push.responseDelayed ? 'push response lost' : 'push answered',
    delivered
      ? 'callback delivered'
      : `callback ${push.callbackMode === 'drop' ? 'dropped' : 'not delivered'}`,
    push.customerAction === 'paid' ? 'paid' : 'not paid',
  ];
  return parts.join(', ');
}

/** What the simulator did to a B2C request, as a short label. */
export function payoutFault(entries: LedgerPayout[]): string {
  const e = entries[0];
  if (!e) return 'no B2C request in the ledger';
  const parts = [
    e.httpStatus === 500
      ? 'request answered 500'
      : e.responseDelayed
        ? 'answer held back'
        : 'request accepted',
    `Result ${e.delivery}`,
    e.paid ? 'paid' : 'not paid',
  ];
  return parts.join(', ');
}

/** Counts by `review_reason — fault` of the rows still in review. */
export async function stayedInReview(
  db: Db,
  merchantId: string,
  ledger: LedgerSnapshot,
  pushesByPayment: Map<string, LedgerPush[]>,
): Promise<{ payments: Record<string, number>; payouts: Record<string, number> }> {
  const rows = async (table: 'payments' | 'payouts') =>
    db
      .selectFrom(table)
      .select(['id', 'review_reason'])
      .where('merchant_id', '=', merchantId)
      .where('status', '=', 'needs_review')
      .execute();
  const tally = (out: Record<string, number>, key: string) => {
    out[key] = (out[key] ?? 0) + 1;
  };
  const payments: Record<string, number> = {};
  for (const r of await rows('payments'))
    tally(payments, `${r.review_reason} — ${pushFault(pushesByPayment.get(r.id as string)?.[0])}`);
  const payouts: Record<string, number> = {};
  for (const r of await rows('payouts')) {
    const entries = ledger.payouts.filter((e) => e.originatorConversationId === r.id);
    tally(payouts, `${r.review_reason} — ${payoutFault(entries)}`);
  }
  return { payments, payouts };
}

/** The before/after table of `--reconcile`. */
export function reviewTable(before: ReviewSnapshot, after: ReviewSnapshot): string {
  const rows = [
    ['needs_review', 'at the deadline', 'after reconciliation', 'left review'],
    ['stk payments', before.payments, after.payments],
    ['b2c payouts', before.payouts, after.payouts],
  ].map((r, i) => {
    if (i === 0) return r as string[];
    const [kind, b, a] = r as [string, string[], string[]];
    const left = new Set(a);
    return [kind, String(b.length), String(a.length), String(b.filter((id) => !left.has(id)).length)];
  });
  const widths = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)));
  return rows
    .map((r) =>
      r.map((v, i) => (i === 0 ? v.padEnd(widths[i] as number) : v.padStart(widths[i] as number))).join('  '),
    )
    .join('\n');
}
