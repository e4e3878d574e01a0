/**
 * The reversals projection: the rows the API reads, written by workflow `reversal`'s activities only,
 * monotonically by `version` (nothing leaves `success`), with one event per status change. Creating a
 * reversal locks its payment's row, so the amounts of all reversals that are not `failed` can never
 * exceed the payment's amount, however many requests race.
 */
import type { Selectable } from 'kysely';
import type { RecordReversalStatusInput } from '../../activities/reversal-types';
import type { Db } from '../db';
import { appendEvent } from '../db/events';
import { type Cursor, newestFirst } from '../db/paging';
import type { ReversalsTable } from '../db/tables/reversals';
import { MalipoError, notFound } from '../domain/errors';
import type { ReversalFailureReason, ReversalReviewReason, ReversalStatus } from '../domain/reversal';

type ReversalRow = Selectable<ReversalsTable>;

/** The reversal object the API returns, and the `data` of every reversal event. */
export interface ReversalView {
  id: string;
  object: 'reversal';
  paymentId: string;
  status: ReversalStatus;
  amount: number;
  currency: 'KES';
  reason: string;
  channelId: string;
  environment: string;
  conversationId: string | null;
  originatorConversationId: string | null;
  /** The reversal's own M-Pesa transaction id. */
  mpesaReceipt: string | null;
  resultCode: string | null;
  resultDesc: string | null;
  failureReason: ReversalFailureReason | null;
  reviewReason: ReversalReviewReason | null;
  createdAt: string;
  updatedAt: string;
  settledAt: string | null;
}

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

export function toReversalView(row: ReversalRow): ReversalView {
  return {
    id: row.id,
    object: 'reversal',
    paymentId: row.payment_id,
    status: row.status as ReversalStatus,
    amount: row.amount,
    currency: 'KES',
    reason: row.reason,
    channelId: row.channel_id,
    environment: row.environment,
    conversationId: row.conversation_id,
    originatorConversationId: row.originator_conversation_id,
    mpesaReceipt: row.mpesa_receipt,
    resultCode: row.result_code,
    resultDesc: row.result_desc,
    failureReason: row.failure_reason as ReversalFailureReason | null,
    reviewReason: row.review_reason as ReversalReviewReason | null,
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
    settledAt: iso(row.settled_at),
  };
}

/** Event types per status (`pending` has none). */
export const REVERSAL_EVENT_TYPE: Record<ReversalStatus, string | null> = {
  pending: null,
  success: 'payment.reversed',
  failed: 'reversal.failed',
  needs_review: 'reversal.needs_review',
};

export interface NewReversal {
  id: string;
  merchantId: string;
  environment: string;
  paymentId: string;
  /** Undefined: the payment's amount less what other reversals hold. */
  amount: number | undefined;
  reason: string;
  apiKeyId: string | null;
}

/** What the new reversal needs from its payment (the workflow's input). */
export interface ReversalTarget {
  view: ReversalView;
  receipt: string;
}

export class ReversalRepository {
  constructor(private readonly db: Db) {}

  /**
   * Inserts the pending reversal of a `success` payment, in one transaction that locks the payment's
   * row: every reversal that is not `failed` holds its amount, and together they never exceed the
   * payment. A second call with the same id (an idempotent retry) returns the existing row.
   */
  async createPending(r: NewReversal): Promise<ReversalTarget> {
    return this.db.transaction().execute(async (trx) => {
      const payment = await trx
        .selectFrom('payments')
        .select(['id', 'status', 'amount', 'mpesa_receipt', 'channel_id', 'merchant_id', 'environment'])
        .where('id', '=', r.paymentId)
        .forUpdate()
        .executeTakeFirst();
      if (!payment || payment.merchant_id !== r.merchantId || payment.environment !== r.environment) {
        throw notFound('Payment');
      }
      const existing = await trx
        .selectFrom('reversals')
        .selectAll()
        .where('id', '=', r.id)
        .executeTakeFirst();
      if (existing) return { view: toReversalView(existing), receipt: payment.mpesa_receipt ?? '' };
      if (payment.status !== 'success' || !payment.mpesa_receipt) {
        throw new MalipoError(
          'CONFLICT',
          `Only a successful payment can be reversed; payment ${payment.id} is ${payment.status}`,
        );
      }
      const held = await trx
        .selectFrom('reversals')
        .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('amount'), eb.lit(0)).as('total'))
        .where('payment_id', '=', payment.id)
        .where('status', '!=', 'failed')
        .executeTakeFirstOrThrow();
      const remaining = payment.amount - Number(held.total);
      const amount = r.amount ?? remaining;
      if (remaining <= 0 || amount > remaining) {
        throw new MalipoError(
          'REVERSAL_EXCEEDS_PAYMENT',
          remaining <= 0
            ? `Payment ${payment.id} has nothing left to reverse`
            : `At most ${remaining} KES of payment ${payment.id} can still be reversed`,
          {
            details: [{ path: 'amount', message: `at most ${Math.max(remaining, 0)} KES`, code: 'too_big' }],
            context: { remaining },
          },
        );
      }
      const row = await trx
        .insertInto('reversals')
        .values({
          id: r.id,
          merchant_id: r.merchantId,
          environment: r.environment,
          payment_id: payment.id,
          channel_id: payment.channel_id,
          status: 'pending',
          amount,
          reason: r.reason,
          api_key_id: r.apiKeyId,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return { view: toReversalView(row), receipt: payment.mpesa_receipt };
    });
  }

  async get(merchantId: string, id: string): Promise<ReversalView | undefined> {
    const row = await this.db
      .selectFrom('reversals')
      .selectAll()
      .where('id', '=', id)
      .where('merchant_id', '=', merchantId)
      .executeTakeFirst();
    return row ? toReversalView(row) : undefined;
  }

  async getById(id: string): Promise<ReversalView | undefined> {
    const row = await this.db.selectFrom('reversals').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toReversalView(row) : undefined;
  }

  /** A payment's reversals, newest first. */
  async listForPayment(
    paymentId: string,
    page: { cursor?: Cursor | undefined; limit: number },
  ): Promise<{ data: ReversalView[]; nextCursor: string | null }> {
    const q = this.db.selectFrom('reversals').selectAll().where('payment_id', '=', paymentId);
    const r = await newestFirst(q, page);
    return { data: r.rows.map(toReversalView), nextCursor: r.nextCursor };
  }

  /** Applies a newer snapshot and appends the event of a status change, in one transaction. */
  async recordStatus(
    change: RecordReversalStatusInput,
  ): Promise<{ applied: boolean; eventId: string | null }> {
    return this.db.transaction().execute(async (trx) => {
      const before = await trx
        .selectFrom('reversals')
        .select('status')
        .where('id', '=', change.reversalId)
        .forUpdate()
        .executeTakeFirst();
      let update = trx
        .updateTable('reversals')
        .set({
          status: change.status,
          version: change.version,
          initiation: change.initiation,
          ...(change.conversationId !== undefined ? { conversation_id: change.conversationId } : {}),
          ...(change.originatorConversationId !== undefined
            ? { originator_conversation_id: change.originatorConversationId }
            : {}),
          ...(change.mpesaReceipt !== undefined ? { mpesa_receipt: change.mpesaReceipt } : {}),
          ...(change.resultCode !== undefined ? { result_code: change.resultCode } : {}),
          ...(change.resultDesc !== undefined ? { result_desc: change.resultDesc } : {}),
          ...(change.decidedBy !== undefined ? { decided_by: change.decidedBy } : {}),
          failure_reason: change.status === 'failed' ? (change.failureReason ?? null) : null,
          review_reason: change.status === 'needs_review' ? (change.reviewReason ?? null) : null,
          updated_at: new Date(),
          settled_at: change.status === 'pending' ? null : new Date(),
        })
        .where('id', '=', change.reversalId)
        .where('version', '<', change.version);
      if (change.status !== 'success') update = update.where('status', '!=', 'success');
      const updated = await update.returningAll().executeTakeFirst();
      if (!updated) return { applied: false, eventId: null };
      const type = REVERSAL_EVENT_TYPE[change.status];
      if (type === null || before?.status === change.status) return { applied: true, eventId: null };
      const eventId = await appendEvent(trx, {
        type,
        merchantId: updated.merchant_id,
        environment: updated.environment,
        subjectId: updated.id,
        version: change.version,
        data: toReversalView(updated),
      });
      return { applied: true, eventId };
    });
  }

  /** The "request sent" mark: true if this call placed it, false if an earlier attempt did. */
  async markRequest(reversalId: string): Promise<boolean> {
    const r = await this.db
      .insertInto('reversal_requests')
      .values({ reversal_id: reversalId })
      .onConflict((oc) => oc.column('reversal_id').doNothing())
      .returning('reversal_id')
      .executeTakeFirst();
    return r !== undefined;
  }

  /** Records what the one request produced; `null` removes the mark (provably not sent). */
  async setRequestOutcome(reversalId: string, outcome: string | null): Promise<void> {
    if (outcome === null) {
      await this.db.deleteFrom('reversal_requests').where('reversal_id', '=', reversalId).execute();
      return;
    }
    await this.db
      .updateTable('reversal_requests')
      .set({ outcome })
      .where('reversal_id', '=', reversalId)
      .execute();
  }
}
