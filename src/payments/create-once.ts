/**
 * Creating a resource that owns one workflow (a payment, a payout), exactly once per Idempotency-Key:
 * claim the key (or replay its answer), insert the pending row and start the workflow, store the
 * answer for retries. When creation fails before anything reached Temporal, nothing will ever reach
 * Daraja either, so the row and the key are forgotten and a retry starts afresh.
 */
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { Db } from '../db';
import { type IdempotencyScope, type IdempotencyStore, requestHash } from './idempotency';

export interface CreateOnceOptions<V> {
  db: Db;
  temporal: Client;
  idempotency: IdempotencyStore;
  /** The table of the pending row (its `id` is the workflow id). */
  table: 'payments' | 'payouts' | 'reversals';
  /** Absent without an Idempotency-Key. */
  scope: IdempotencyScope | undefined;
  rawBody: unknown;
  /** The id to use unless the key already names one (a retry after a crash joins the same workflow). */
  proposedId: string;
  /** Inserts the pending row (idempotently) and starts or joins the workflow; answers the 202 body. */
  run(id: string): Promise<V>;
}

export async function createOnce<V>(
  o: CreateOnceOptions<V>,
): Promise<{ status: number; body: V; replayed: boolean }> {
  let id = o.proposedId;
  if (o.scope) {
    const claimed = await o.idempotency.claim(o.scope, requestHash(o.rawBody), id);
    if (claimed.kind === 'replay') return { status: claimed.status, body: claimed.body as V, replayed: true };
    id = claimed.resourceId;
  }
  try {
    const body = await o.run(id);
    if (o.scope) await o.idempotency.complete(o.scope, 202, body);
    return { status: 202, body, replayed: false };
  } catch (err) {
    if (!(await workflowExists(o.temporal, id))) {
      await o.db
        .deleteFrom(o.table)
        .where('id', '=', id)
        .where('version', '=', 0)
        .execute()
        .catch(() => undefined);
      if (o.scope) await o.idempotency.release(o.scope).catch(() => undefined);
    }
    throw err;
  }
}

async function workflowExists(temporal: Client, workflowId: string): Promise<boolean> {
  try {
    await temporal.workflow.getHandle(workflowId).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    return true; // cannot tell: keep the row, a retry with the same key joins the workflow
  }
}
