/**
 * The payments projection: the row the API reads, written only by the payment workflow's
 * activities, monotonically (a write with an older `version` changes nothing; a decision replaces a
 * `pending` write of the same version) and idempotently (the event of each change is inserted once,
 * keyed by payment and version).
 */
import { type Selectable, sql } from 'kysely';
import type { Db } from '../db';
import { appendEvent } from '../db/events';
import { type Cursor, newestFirst } from '../db/paging';
import type { PaymentsTable } from '../db/tables/payments';
import type { FailureReason, PaymentStatus, ReviewReason } from '../domain/payment';
import type { ManualResolution, ResolvedBy } from '../domain/reconciliation';
import { appendAudit } from '../platform/audit';

type PaymentRow = Selectable<PaymentsTable>;

/** The payment object the API returns, and the `data` of every payment event. */
export interface PaymentView {
  id: string;
  object: 'payment';
  kind: string;
  status: PaymentStatus;
  amount: number;
  currency: 'KES';
  phone: string;
  reference: string;
  description: string;
  channelId: string;
  environment: string;
  checkoutRequestId: string | null;
  merchantRequestId: string | null;
  mpesaReceipt: string | null;
  transactionDate: string | null;
  resultCode: string | null;
  resultDesc: string | null;
  failureReason: FailureReason | null;
  reviewReason: ReviewReason | null;
  callbackUrl: string | null;
  linkId: string | null;
  metadata: Record<string, unknown> | null;
  createdAt: string;
  updatedAt: string;
  settledAt: string | null;
  /** Who took the payment out of `needs_review`: its own reconciliation, or a manual resolution. */
  resolvedBy: ResolvedBy | null;
  /** The `c2b` payment reconciliation matched to this one (the customer paid the paybill directly). */
  matchedC2bPaymentId: string | null;
}

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

export function toPaymentView(row: PaymentRow): PaymentView {
  return {
    id: row.id,
    object: 'payment',
    kind: row.kind,
    status: row.status as PaymentStatus,
    amount: row.amount,
    currency: 'KES',
    phone: row.phone,
    reference: row.reference,
    description: row.description,
    channelId: row.channel_id,
    environment: row.environment,
    checkoutRequestId: row.checkout_request_id,
    merchantRequestId: row.merchant_request_id,
    mpesaReceipt: row.mpesa_receipt,
    transactionDate: row.transaction_date,
    resultCode: row.result_code,
    resultDesc: row.result_desc,
    failureReason: row.failure_reason as FailureReason | null,
    reviewReason: row.review_reason as ReviewReason | null,
    callbackUrl: row.callback_url,
    linkId: row.link_id,
    metadata: (typeof row.metadata === 'string' ? JSON.parse(row.metadata) : row.metadata) as Record<
      string,
      unknown
    > | null,
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
    settledAt: iso(row.settled_at),
    resolvedBy: (row.resolved_by ?? null) as ResolvedBy | null,
    matchedC2bPaymentId: row.matched_c2b_payment_id ?? null,
  };
}

export interface NewPayment {
  id: string;
  merchantId: string;
  environment: string;
  channelId: string;
  amount: number;
  phone: string;
  reference: string;
  description: string;
  callbackUrl: string | null;
  metadata: Record<string, unknown> | null;
  apiKeyId: string | null;
  linkId?: string | null;
}

/** What the workflow reports at each change. */
export interface StatusChange {
  paymentId: string;
  /** Strictly increasing per payment; written by the workflow. */
  version: number;
  status: PaymentStatus;
  checkoutRequestId?: string | null | undefined;
  merchantRequestId?: string | null | undefined;
  mpesaReceipt?: string | null | undefined;
  transactionDate?: string | null | undefined;
  resultCode?: string | null | undefined;
  resultDesc?: string | null | undefined;
  failureReason?: FailureReason | null | undefined;
  reviewReason?: ReviewReason | null | undefined;
  resolvedBy?: ResolvedBy | null | undefined;
  matchedC2bPaymentId?: string | null | undefined;
  /** A manual resolution: its audit row (who and why) is written in the same transaction. */
  resolution?: Pick<ManualResolution, 'actor' | 'note' | 'requestId'> | undefined;
}

export const EVENT_TYPE: Record<PaymentStatus, string | null> = {
  pending: null,
  success: 'payment.success',
  failed: 'payment.failed',
  needs_review: 'payment.needs_review',
};

export interface PaymentFilter {
  status?: PaymentStatus | undefined;
  reference?: string | undefined;
  phone?: string | undefined;
  channelId?: string | undefined;
  linkId?: string | undefined;
  /** `stk` or `c2b`. */
  kind?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  /** A payment id or an M-Pesa receipt (any case). */
  search?: string | undefined;
  cursor?: Cursor | undefined;
  limit: number;
}

export class PaymentRepository {
  constructor(private readonly db: Db) {}

  /** Inserts the pending row; a second insert of the same id (an idempotent retry) changes nothing. */
  async createPending(p: NewPayment): Promise<PaymentView> {
    const inserted = await this.db
      .insertInto('payments')
      .values({
        id: p.id,
        merchant_id: p.merchantId,
        environment: p.environment,
        channel_id: p.channelId,
        status: 'pending',
        amount: p.amount,
        phone: p.phone,
        reference: p.reference,
        description: p.description,
        callback_url: p.callbackUrl,
        metadata: p.metadata === null ? null : JSON.stringify(p.metadata),
        api_key_id: p.apiKeyId,
        link_id: p.linkId ?? null,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .returningAll()
      .executeTakeFirst();
    // one round trip for a new payment; a retry reads the row the first insert wrote
    const row =
      inserted ??
      (await this.db.selectFrom('payments').selectAll().where('id', '=', p.id).executeTakeFirstOrThrow());
    return toPaymentView(row);
  }

  async get(merchantId: string, id: string): Promise<PaymentView | undefined> {
    const row = await this.db
      .selectFrom('payments')
      .selectAll()
      .where('id', '=', id)
      .where('merchant_id', '=', merchantId)
      .executeTakeFirst();
    return row ? toPaymentView(row) : undefined;
  }

  async getById(id: string): Promise<PaymentView | undefined> {
    const row = await this.db.selectFrom('payments').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toPaymentView(row) : undefined;
  }

  /**
   * Applies a change if it is newer than what is stored, and appends its event in the same
   * transaction. Returns the event id, or null when the change was already applied (a retry) or
   * is older than the stored state. `withEvent` runs in that transaction once an event is appended
   * (the webhook capability plans its deliveries there); its answer is returned as `planned`.
   *
   * Round trips: a change with no event (the acceptance) is one UPDATE, no transaction; a status
   * change is BEGIN, one UPDATE that also reads the status it replaces, the event's INSERT, what
   * `withEvent` adds, COMMIT.
   */
  async recordStatus<T = never>(
    change: StatusChange,
    withEvent?: (trx: Db, eventId: string, row: PaymentRow) => Promise<T>,
  ): Promise<{ applied: boolean; eventId: string | null; planned?: T }> {
    if (EVENT_TYPE[change.status] === null && change.resolution === undefined) {
      const updated = await this.#update(this.db, change).returning('payments.id').executeTakeFirst();
      return { applied: updated !== undefined, eventId: null };
    }
    return this.db.transaction().execute(async (trx) => {
      const updated = await this.#update(trx, change)
        .returningAll('payments')
        .returning('before.before_status')
        .executeTakeFirst();
      if (!updated) return { applied: false, eventId: null };
      const before = { status: updated.before_status };
      if (change.resolution !== undefined) {
        await appendAudit(trx, {
          actor: change.resolution.actor,
          action: 'payment.resolve',
          targetId: updated.id,
          merchantId: updated.merchant_id,
          details: {
            status: change.status,
            mpesaReceipt: change.mpesaReceipt ?? null,
            note: change.resolution.note,
            from: before.status ?? null,
          },
          requestId: change.resolution.requestId,
        });
      }
      const type = EVENT_TYPE[change.status];
      // One event per status change: a write that only adds detail (a late receipt) creates none.
      if (type === null || before.status === change.status) return { applied: true, eventId: null };
      const { before_status: _, ...row } = updated;
      const eventId = await appendEvent(trx, {
        type,
        merchantId: row.merchant_id,
        environment: row.environment,
        subjectId: row.id,
        version: change.version,
        data: toPaymentView(row),
      });
      if (!withEvent) return { applied: true, eventId };
      return { applied: true, eventId, planned: await withEvent(trx, eventId, row) };
    });
  }

  /**
   * The projection's UPDATE of a change, monotonic by version and never out of success; joined to
   * the row as it was (locked), so its RETURNING can name the status it replaced.
   */
  #update(db: Db, change: StatusChange) {
    let update = db
      .updateTable('payments')
      .from(
        db
          .selectFrom('payments')
          .select('status as before_status')
          .where('id', '=', change.paymentId)
          .forUpdate()
          .as('before'),
      )
      .set({
        status: change.status,
        version: change.version,
        ...(change.checkoutRequestId !== undefined ? { checkout_request_id: change.checkoutRequestId } : {}),
        ...(change.merchantRequestId !== undefined ? { merchant_request_id: change.merchantRequestId } : {}),
        ...(change.mpesaReceipt !== undefined ? { mpesa_receipt: change.mpesaReceipt } : {}),
        ...(change.transactionDate !== undefined ? { transaction_date: change.transactionDate } : {}),
        ...(change.resultCode !== undefined ? { result_code: change.resultCode } : {}),
        ...(change.resultDesc !== undefined ? { result_desc: change.resultDesc } : {}),
        ...(change.resolvedBy !== undefined ? { resolved_by: change.resolvedBy } : {}),
        ...(change.matchedC2bPaymentId !== undefined
          ? { matched_c2b_payment_id: change.matchedC2bPaymentId }
          : {}),
        failure_reason: change.status === 'failed' ? (change.failureReason ?? null) : null,
        review_reason: change.status === 'needs_review' ? (change.reviewReason ?? null) : null,
        updated_at: new Date(),
        settled_at: change.status === 'pending' ? null : new Date(),
      })
      .where('payments.id', '=', change.paymentId)
      .where((eb) =>
        change.status === 'pending'
          ? eb('payments.version', '<', change.version)
          : // Rule: a decision also replaces a `pending` write of its own version. Such a write
            // came from a workflow task that was lost after its local activities ran (the retried
            // task, the one in history, numbers its changes from the same point); left alone, it
            // would refuse the history's final write and keep the row pending forever.
            eb.or([
              eb('payments.version', '<', change.version),
              eb.and([eb('payments.version', '=', change.version), eb('payments.status', '=', 'pending')]),
            ]),
      );
    // nothing moves a payment out of success
    if (change.status !== 'success') update = update.where('payments.status', '!=', 'success');
    return update;
  }

  /**
   * A merchant's payments, newest first, in a stable order (created_at, then id) so a cursor never
   * skips or repeats a row while new payments arrive.
   */
  async list(
    merchantId: string,
    environment: string,
    f: PaymentFilter,
  ): Promise<{ data: PaymentView[]; nextCursor: string | null }> {
    const page = await newestFirst(this.filtered(merchantId, environment, f), f);
    return { data: page.rows.map(toPaymentView), nextCursor: page.nextCursor };
  }

  /** The rows `list` pages through (every filter, no order); `malipo bench growth` EXPLAINs it. */
  filtered(merchantId: string, environment: string, f: Omit<PaymentFilter, 'cursor' | 'limit'>) {
    let q = this.db
      .selectFrom('payments')
      .selectAll()
      .where('merchant_id', '=', merchantId)
      .where('environment', '=', environment);
    if (f.status) q = q.where('status', '=', f.status);
    if (f.reference) q = q.where('reference', '=', f.reference);
    if (f.phone) q = q.where('phone', '=', f.phone);
    if (f.channelId) q = q.where('channel_id', '=', f.channelId);
    if (f.linkId) q = q.where('link_id', '=', f.linkId);
    if (f.kind) q = q.where('kind', '=', f.kind);
    if (f.from) q = q.where('created_at', '>=', f.from);
    if (f.to) q = q.where('created_at', '<', f.to);
    const search = f.search;
    if (search) {
      q = q.where((eb) => eb.or([eb('id', '=', search), eb('mpesa_receipt', '=', search.toUpperCase())]));
    }
    return q;
  }

  /**
   * A manual resolution of a payment whose workflow has ended: the projection, its event and the audit
   * row in one transaction, as the next version. Applies nothing (`applied: false`) unless the stored
   * payment is still `needs_review`.
   */
  async resolveDirectly(
    id: string,
    r: ManualResolution,
  ): Promise<{ applied: boolean; eventId: string | null }> {
    const row = await this.db
      .selectFrom('payments')
      .select(['status', 'version'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (row?.status !== 'needs_review') return { applied: false, eventId: null };
    return this.recordStatus({
      paymentId: id,
      version: row.version + 1,
      status: r.status,
      ...(r.status === 'success' ? { mpesaReceipt: r.mpesaReceipt } : {}),
      failureReason: r.status === 'failed' ? 'reviewed' : null,
      reviewReason: null,
      resolvedBy: 'manual',
      resolution: { actor: r.actor, note: r.note, requestId: r.requestId },
    });
  }

  /**
   * Finds the oldest C2B confirmation on the payment's channel with its phone, amount and reference
   * (trimmed, case-insensitive), recorded in [from, to) and not yet matched to any payment, and claims
   * it for this payment. A payment that already holds a claim gets that one back (an activity retry).
   */
  async claimC2bMatch(m: {
    paymentId: string;
    channelId: string;
    phone: string;
    amount: number;
    reference: string;
    from: Date;
    to: Date;
  }): Promise<{ c2bPaymentId: string; mpesaReceipt: string; transactionDate: string | null } | undefined> {
    const held = async () => {
      const own = await this.db
        .selectFrom('payments as p')
        .innerJoin('payments as c', 'c.id', 'p.matched_c2b_payment_id')
        .select(['c.id', 'c.mpesa_receipt', 'c.transaction_date'])
        .where('p.id', '=', m.paymentId)
        .executeTakeFirst();
      return own?.mpesa_receipt
        ? { c2bPaymentId: own.id, mpesaReceipt: own.mpesa_receipt, transactionDate: own.transaction_date }
        : undefined;
    };
    const already = await held();
    if (already) return already;
    const candidates = await this.db
      .selectFrom('payments as c')
      .select(['c.id'])
      .where('c.kind', '=', 'c2b')
      .where('c.channel_id', '=', m.channelId)
      .where('c.phone', '=', m.phone)
      .where('c.amount', '=', m.amount)
      .where(sql<string>`lower(btrim(c.reference))`, '=', m.reference.trim().toLowerCase())
      .where('c.created_at', '>=', m.from)
      .where('c.created_at', '<', m.to)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('payments as t').select('t.id').whereRef('t.matched_c2b_payment_id', '=', 'c.id'),
          ),
        ),
      )
      .orderBy('c.created_at')
      .orderBy('c.id')
      .limit(5)
      .execute();
    for (const c of candidates) {
      try {
        await this.db
          .updateTable('payments')
          .set({ matched_c2b_payment_id: c.id })
          .where('id', '=', m.paymentId)
          .where('matched_c2b_payment_id', 'is', null)
          .execute();
      } catch (err) {
        // another payment claimed this confirmation first (unique index payments_matched_c2b)
        if (isUniqueViolation(err)) continue;
        throw err;
      }
      return held();
    }
    return undefined;
  }

  /** The event a given change appended, if any. */
  async eventIdFor(paymentId: string, version: number): Promise<string | null> {
    const row = await this.db
      .selectFrom('events')
      .select('id')
      .where('payment_id', '=', paymentId)
      .where('payment_version', '=', version)
      .executeTakeFirst();
    return row?.id ?? null;
  }

  /** Keeps a callback that could not reach its workflow, for reconciliation. */
  async toInbox(kind: string, paymentId: string, body: unknown, error: string): Promise<void> {
    await this.db
      .insertInto('callback_inbox')
      .values({
        kind,
        payment_id: paymentId,
        body: JSON.stringify(withoutNul(body ?? null)),
        error: error.replaceAll('\u0000', '\uFFFD'),
      })
      .execute();
  }
}

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23505';
}

/** PostgreSQL text and jsonb cannot hold U+0000: keep anything received, with NUL shown as U+FFFD. */
export function withoutNul(v: unknown): unknown {
  if (typeof v === 'string') return v.replaceAll('\u0000', '\uFFFD');
  if (Array.isArray(v)) return v.map(withoutNul);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k.replaceAll('\u0000', '\uFFFD'), withoutNul(x)]),
    );
  }
  return v;
}
