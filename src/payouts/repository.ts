/**
 * The payouts projection: the row the API reads, written by workflow `b2cPayout`'s activities only,
 * monotonically by `version` (nothing leaves `success`), with one event per status change, and one
 * `payout.suspicious_result` event (plus an audit row) per Result the workflow did not believe.
 */
import type { Selectable } from 'kysely';
import type { RecordPayoutStatusInput } from '../../activities/payout-types';
import type { Db } from '../db';
import { appendEvent } from '../db/events';
import { type Cursor, newestFirst } from '../db/paging';
import { appendAudit } from '../platform/audit';
import type { PayoutsTable } from '../db/tables/payouts';
import type { PayoutCommand, PayoutFailureReason, PayoutReviewReason, PayoutStatus } from '../domain/payout';
import type { ManualResolution, ResolvedBy } from '../domain/reconciliation';
import type { PayoutState } from '../domain/payout';

type PayoutRow = Selectable<PayoutsTable>;

/** The payout object the API returns, and the `data` of every payout event. */
export interface PayoutView {
  id: string;
  object: 'payout';
  status: PayoutStatus;
  amount: number;
  currency: 'KES';
  phone: string;
  commandId: PayoutCommand;
  remarks: string;
  occasion: string | null;
  reference: string;
  channelId: string;
  environment: string;
  conversationId: string | null;
  originatorConversationId: string | null;
  mpesaReceipt: string | null;
  receiverName: string | null;
  completedAt: string | null;
  resultCode: string | null;
  resultDesc: string | null;
  failureReason: PayoutFailureReason | null;
  reviewReason: PayoutReviewReason | null;
  callbackUrl: string | null;
  metadata: Record<string, unknown> | null;
  createdAt: string;
  updatedAt: string;
  settledAt: string | null;
  /** Who took the payout out of `needs_review`: its own reconciliation, or a manual resolution. */
  resolvedBy: ResolvedBy | null;
}

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

export function toPayoutView(row: PayoutRow): PayoutView {
  return {
    id: row.id,
    object: 'payout',
    status: row.status as PayoutStatus,
    amount: row.amount,
    currency: 'KES',
    phone: row.phone,
    commandId: row.command_id as PayoutCommand,
    remarks: row.remarks,
    occasion: row.occasion,
    reference: row.reference,
    channelId: row.channel_id,
    environment: row.environment,
    conversationId: row.conversation_id,
    originatorConversationId: row.originator_conversation_id,
    mpesaReceipt: row.mpesa_receipt,
    receiverName: row.receiver_name,
    completedAt: row.completed_at,
    resultCode: row.result_code,
    resultDesc: row.result_desc,
    failureReason: row.failure_reason as PayoutFailureReason | null,
    reviewReason: row.review_reason as PayoutReviewReason | null,
    callbackUrl: row.callback_url,
    metadata: (typeof row.metadata === 'string' ? JSON.parse(row.metadata) : row.metadata) as Record<
      string,
      unknown
    > | null,
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
    settledAt: iso(row.settled_at),
    resolvedBy: (row.resolved_by ?? null) as ResolvedBy | null,
  };
}

export interface NewPayout {
  id: string;
  merchantId: string;
  environment: string;
  channelId: string;
  amount: number;
  phone: string;
  commandId: PayoutCommand;
  remarks: string;
  occasion: string | null;
  reference: string;
  callbackUrl: string | null;
  metadata: Record<string, unknown> | null;
  apiKeyId: string | null;
}

/** The event of a Result that did not name the payout's request (the payout is unchanged). */
export const PAYOUT_SUSPICIOUS_EVENT_TYPE = 'payout.suspicious_result';

export const PAYOUT_EVENT_TYPE: Record<PayoutStatus, string | null> = {
  pending: null,
  success: 'payout.success',
  failed: 'payout.failed',
  needs_review: 'payout.needs_review',
};

export interface PayoutFilter {
  status?: PayoutStatus | undefined;
  reference?: string | undefined;
  phone?: string | undefined;
  channelId?: string | undefined;
  cursor?: Cursor | undefined;
  limit: number;
}

export class PayoutRepository {
  constructor(private readonly db: Db) {}

  /** Inserts the pending row; a second insert of the same id (an idempotent retry) changes nothing. */
  async createPending(p: NewPayout): Promise<PayoutView> {
    await this.db
      .insertInto('payouts')
      .values({
        id: p.id,
        merchant_id: p.merchantId,
        environment: p.environment,
        channel_id: p.channelId,
        status: 'pending',
        amount: p.amount,
        phone: p.phone,
        command_id: p.commandId,
        remarks: p.remarks,
        occasion: p.occasion,
        reference: p.reference,
        callback_url: p.callbackUrl,
        metadata: p.metadata === null ? null : JSON.stringify(p.metadata),
        api_key_id: p.apiKeyId,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    const row = await this.db
      .selectFrom('payouts')
      .selectAll()
      .where('id', '=', p.id)
      .executeTakeFirstOrThrow();
    return toPayoutView(row);
  }

  async get(merchantId: string, id: string): Promise<PayoutView | undefined> {
    const row = await this.db
      .selectFrom('payouts')
      .selectAll()
      .where('id', '=', id)
      .where('merchant_id', '=', merchantId)
      .executeTakeFirst();
    return row ? toPayoutView(row) : undefined;
  }

  async getById(id: string): Promise<PayoutView | undefined> {
    const row = await this.db.selectFrom('payouts').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toPayoutView(row) : undefined;
  }

  /** Applies a newer snapshot and appends the event of a status change, in one transaction. */
  async recordStatus(change: RecordPayoutStatusInput): Promise<{ applied: boolean; eventId: string | null }> {
    return this.db.transaction().execute(async (trx) => {
      const before = await trx
        .selectFrom('payouts')
        .select('status')
        .where('id', '=', change.payoutId)
        .forUpdate()
        .executeTakeFirst();
      let update = trx
        .updateTable('payouts')
        .set({
          status: change.status,
          version: change.version,
          initiation: change.initiation,
          ...(change.conversationId !== undefined ? { conversation_id: change.conversationId } : {}),
          ...(change.originatorConversationId !== undefined
            ? { originator_conversation_id: change.originatorConversationId }
            : {}),
          ...(change.mpesaReceipt !== undefined ? { mpesa_receipt: change.mpesaReceipt } : {}),
          ...(change.receiverName !== undefined ? { receiver_name: change.receiverName } : {}),
          ...(change.completedAt !== undefined ? { completed_at: change.completedAt } : {}),
          ...(change.resultCode !== undefined ? { result_code: change.resultCode } : {}),
          ...(change.resultDesc !== undefined ? { result_desc: change.resultDesc } : {}),
          ...(change.decidedBy !== undefined ? { decided_by: change.decidedBy } : {}),
          ...(change.resolvedBy !== undefined ? { resolved_by: change.resolvedBy } : {}),
          failure_reason: change.status === 'failed' ? (change.failureReason ?? null) : null,
          review_reason: change.status === 'needs_review' ? (change.reviewReason ?? null) : null,
          updated_at: new Date(),
          settled_at: change.status === 'pending' ? null : new Date(),
        })
        .where('id', '=', change.payoutId)
        .where('version', '<', change.version);
      if (change.status !== 'success') update = update.where('status', '!=', 'success');
      const updated = await update.returningAll().executeTakeFirst();
      if (!updated) return { applied: false, eventId: null };
      if (change.suspicious !== undefined) {
        // visible to the merchant (GET /v1/events, webhooks) and to the operator (the audit log)
        const eventId = await appendEvent(trx, {
          type: PAYOUT_SUSPICIOUS_EVENT_TYPE,
          merchantId: updated.merchant_id,
          environment: updated.environment,
          subjectId: updated.id,
          version: change.version,
          data: { ...toPayoutView(updated), suspiciousResult: change.suspicious },
        });
        await appendAudit(trx, {
          actor: 'daraja',
          action: 'payout.suspicious_result',
          targetId: updated.id,
          merchantId: updated.merchant_id,
          details: { ...change.suspicious, eventId },
        });
        return { applied: true, eventId };
      }
      if (change.resolution !== undefined) {
        await appendAudit(trx, {
          actor: change.resolution.actor,
          action: 'payout.resolve',
          targetId: updated.id,
          merchantId: updated.merchant_id,
          details: {
            status: change.status,
            mpesaReceipt: change.mpesaReceipt ?? null,
            note: change.resolution.note,
            from: before?.status ?? null,
          },
          requestId: change.resolution.requestId,
        });
      }
      const type = PAYOUT_EVENT_TYPE[change.status];
      if (type === null || before?.status === change.status) return { applied: true, eventId: null };
      const eventId = await appendEvent(trx, {
        type,
        merchantId: updated.merchant_id,
        environment: updated.environment,
        subjectId: updated.id,
        version: change.version,
        data: toPayoutView(updated),
      });
      return { applied: true, eventId };
    });
  }

  /**
   * A manual resolution of a payout whose workflow has ended: the projection, its event and the audit
   * row in one transaction, as the next version. Applies nothing unless the payout is still `needs_review`.
   */
  async resolveDirectly(
    id: string,
    r: ManualResolution,
  ): Promise<{ applied: boolean; eventId: string | null }> {
    const row = await this.db.selectFrom('payouts').selectAll().where('id', '=', id).executeTakeFirst();
    if (row?.status !== 'needs_review') return { applied: false, eventId: null };
    return this.recordStatus({
      payoutId: id,
      version: row.version + 1,
      status: r.status,
      initiation: row.initiation as PayoutState['initiation'],
      ...(r.status === 'success' ? { mpesaReceipt: r.mpesaReceipt } : {}),
      failureReason: r.status === 'failed' ? 'reviewed' : undefined,
      reviewReason: undefined,
      decidedBy: 'manual',
      resolvedBy: 'manual',
      resolution: { actor: r.actor, note: r.note, requestId: r.requestId },
      reason: r.status === 'success' ? 'Resolved manually: paid out.' : 'Resolved manually: no money moved.',
      changedAt: new Date().toISOString(),
    });
  }

  /** A merchant's payouts, newest first, with a stable cursor (created_at, then id). */
  async list(
    merchantId: string,
    environment: string,
    f: PayoutFilter,
  ): Promise<{ data: PayoutView[]; nextCursor: string | null }> {
    let q = this.db
      .selectFrom('payouts')
      .selectAll()
      .where('merchant_id', '=', merchantId)
      .where('environment', '=', environment);
    if (f.status) q = q.where('status', '=', f.status);
    if (f.reference) q = q.where('reference', '=', f.reference);
    if (f.phone) q = q.where('phone', '=', f.phone);
    if (f.channelId) q = q.where('channel_id', '=', f.channelId);
    const page = await newestFirst(q, f);
    return { data: page.rows.map(toPayoutView), nextCursor: page.nextCursor };
  }

  /** The "request sent" mark: true if this call placed it, false if an earlier attempt did. */
  async markRequest(payoutId: string): Promise<boolean> {
    const r = await this.db
      .insertInto('payout_requests')
      .values({ payout_id: payoutId })
      .onConflict((oc) => oc.column('payout_id').doNothing())
      .returning('payout_id')
      .executeTakeFirst();
    return r !== undefined;
  }

  /** Records what the one request produced; `null` removes the mark (provably not sent). */
  async setRequestOutcome(payoutId: string, outcome: string | null): Promise<void> {
    if (outcome === null) {
      await this.db.deleteFrom('payout_requests').where('payout_id', '=', payoutId).execute();
      return;
    }
    await this.db.updateTable('payout_requests').set({ outcome }).where('payout_id', '=', payoutId).execute();
  }
}
