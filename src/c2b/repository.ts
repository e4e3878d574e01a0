/**
 * C2B in the database: a channel's C2B settings, the payment links a customer's account number may
 * name, and the one write a confirmation makes: the `c2b` payment and its `payment.c2b` event, in one
 * transaction, at most once per M-Pesa TransID on each channel (unique index
 * `payments_c2b_channel_receipt`): the same TransID on another channel is that channel's payment.
 */
import { type Selectable, sql } from 'kysely';
import type { Db } from '../db';
import { appendEvent } from '../db/events';
import type { ChannelsTable } from '../db/schema';
import type { C2bNotification } from '../daraja/transformers';
import { assertNever } from '../domain/assert';
import { notFound } from '../domain/errors';
import { newId } from '../domain/ids';
import { amountOf, type LinkRepository, statusOf } from '../links/links';
import { type Actor, appendAudit } from '../platform/audit';
import type { KeyEnvironment } from '../platform/scopes';
import { type PaymentView, toPaymentView } from '../payments/repository';
import {
  type C2bDecision,
  type C2bResponseType,
  type C2bValidationRule,
  decideOpenLinks,
  type LinkCandidate,
  linkForPayment,
  truncate,
  wholeKes,
} from './rules';

type ChannelRow = Selectable<ChannelsTable>;

/** The event type of a customer-initiated payment. */
export const C2B_EVENT_TYPE = 'payment.c2b';
/** A C2B payment is born final: its one row version and the version of its one event. */
export const C2B_PAYMENT_VERSION = 1;

/** Longest reference kept on the payment (the full BillRefNumber stays in metadata). */
export const C2B_REFERENCE_MAX = 64;
/** Longest text kept from any one notification field. */
const FIELD_MAX = 200;
/** Longest TransID accepted as a receipt (M-Pesa's are 10 characters). */
const TRANS_ID_MAX = 64;

/** What the hooks need to know about a channel. */
export interface C2bChannel {
  id: string;
  merchantId: string;
  /** The key environment (`test`/`live`) its payments belong to: the channel's `mode`. */
  environment: KeyEnvironment;
  type: 'paybill' | 'till';
  /** The number customers pay, and the ShortCode registered: the paybill number, or the till number. */
  payShortcode: string;
  validation: C2bValidationRule;
  responseType: C2bResponseType | null;
  registeredAt: Date | null;
}

/** A channel's C2B settings, as the API shows them. */
export interface C2bSettings {
  channelId: string;
  shortcode: string;
  registered: boolean;
  registeredAt: Date | null;
  responseType: C2bResponseType | null;
  validation: C2bValidationRule;
}

/** For a till, customers pay (and M-Pesa notifies for) the till number, not the store number. */
export function payShortcodeOf(row: Pick<ChannelRow, 'type' | 'shortcode' | 'till_number'>): string {
  return row.type === 'till' && row.till_number ? row.till_number : row.shortcode;
}

export function toC2bChannel(row: ChannelRow): C2bChannel {
  return {
    id: row.id,
    merchantId: row.merchant_id,
    environment: row.mode,
    type: row.type,
    payShortcode: payShortcodeOf(row),
    validation: row.c2b_validation,
    responseType: row.c2b_response_type,
    registeredAt: row.c2b_registered_at ? new Date(row.c2b_registered_at) : null,
  };
}

export function settingsOf(c: C2bChannel): C2bSettings {
  return {
    channelId: c.id,
    shortcode: c.payShortcode,
    registered: c.registeredAt !== null,
    registeredAt: c.registeredAt,
    responseType: c.responseType,
    validation: c.validation,
  };
}

export type ConfirmationResult =
  /** A new payment, with its event (dispatch webhooks for it). */
  | { outcome: 'recorded'; payment: PaymentView; eventId: string }
  /** The TransID was recorded before on this channel: nothing new. */
  | { outcome: 'duplicate'; payment: PaymentView; eventId: string | null }
  /** Cannot be a payment row (no TransID, amount below KES 1): keep it in the inbox instead. */
  | { outcome: 'unrecordable'; reason: string };

const nonEmpty = (v: string) => (v.trim() === '' ? undefined : truncate(v, FIELD_MAX));

/** The payment's metadata: who paid and what M-Pesa said, without Daraja's field names. */
export function c2bMetadata(n: C2bNotification): Record<string, unknown> {
  const middleName = nonEmpty(n.middleName);
  const lastName = nonEmpty(n.lastName);
  return {
    firstName: truncate(n.firstName, FIELD_MAX),
    ...(middleName !== undefined ? { middleName } : {}),
    ...(lastName !== undefined ? { lastName } : {}),
    billRefNumber: truncate(n.billRefNumber, FIELD_MAX),
    invoiceNumber: truncate(n.invoiceNumber, FIELD_MAX),
    orgAccountBalance: truncate(n.orgAccountBalance, FIELD_MAX),
    thirdPartyTransId: truncate(n.thirdPartyTransId, FIELD_MAX),
    transactionType: truncate(n.transactionType, FIELD_MAX),
    businessShortCode: truncate(n.shortcode, FIELD_MAX),
    // exactly what M-Pesa sent; differs from `amount` only if the payment had cents
    transAmount: n.amount,
  };
}

export class C2bRepository {
  constructor(
    private readonly db: Db,
    private readonly links: Pick<LinkRepository, 'stats'>,
  ) {}

  /** A channel by id, for the hooks (no merchant in hand: the path token proved the channel). */
  async channel(channelId: string): Promise<C2bChannel | undefined> {
    const row = await this.db
      .selectFrom('channels')
      .selectAll()
      .where('id', '=', channelId)
      .executeTakeFirst();
    return row ? toC2bChannel(row) : undefined;
  }

  /** A merchant's channel, for the API; another merchant's or an unknown id is 404. */
  async merchantChannel(merchantId: string, channelId: string): Promise<ChannelRow> {
    const row = await this.db
      .selectFrom('channels')
      .selectAll()
      .where('id', '=', channelId)
      .where('merchant_id', '=', merchantId)
      .executeTakeFirst();
    if (!row) throw notFound('Channel');
    return row;
  }

  /**
   * The merchant's links in the channel's environment whose reference equals `billRefNumber`
   * (trimmed, case-insensitive), with their live status. Links pinned to another channel are left out.
   */
  async linksNamed(channel: C2bChannel, billRefNumber: string): Promise<LinkCandidate[]> {
    const ref = billRefNumber.trim().toLowerCase();
    if (ref === '') return [];
    const rows = await this.db
      .selectFrom('payment_links')
      .selectAll()
      .where('merchant_id', '=', channel.merchantId)
      .where('environment', '=', channel.environment)
      .where(sql<string>`lower(btrim(reference))`, '=', ref)
      .where((eb) => eb.or([eb('channel_id', 'is', null), eb('channel_id', '=', channel.id)]))
      .execute();
    const stats = await this.links.stats(rows.map((r) => r.id));
    const now = new Date();
    return rows.map((r) => ({
      id: r.id,
      reference: r.reference,
      amount: amountOf(r),
      status: statusOf(r, stats.get(r.id) ?? { payments: 0, successfulPayments: 0, amountCollected: 0 }, now),
      createdAt: new Date(r.created_at),
    }));
  }

  /** Applies the channel's validation rule to a validation request. */
  async decide(channel: C2bChannel, n: C2bNotification): Promise<C2bDecision> {
    switch (channel.validation) {
      case 'accept_all':
        return { accept: true, linkId: null };
      case 'open_links':
        return decideOpenLinks(n.billRefNumber, n.amount, await this.linksNamed(channel, n.billRefNumber));
      default:
        return assertNever(channel.validation, 'c2b validation rule');
    }
  }

  /**
   * Records a confirmed customer payment and its `payment.c2b` event in one transaction. A TransID
   * seen before on this channel records nothing and returns the stored payment; one seen only on
   * another channel (another shortcode, environment or merchant) is recorded for this one.
   */
  async recordConfirmation(channel: C2bChannel, n: C2bNotification): Promise<ConfirmationResult> {
    const transId = n.transactionId.trim();
    if (transId === '' || transId.length > TRANS_ID_MAX) {
      return { outcome: 'unrecordable', reason: `TransID must be 1-${TRANS_ID_MAX} characters` };
    }
    const { kes } = wholeKes(n.amount);
    if (kes === undefined) {
      return { outcome: 'unrecordable', reason: `amount ${n.amount} is not a payment of at least KES 1` };
    }
    const existing = await this.#byReceipt(channel.id, transId);
    if (existing) return existing;

    const linkId = linkForPayment(n.billRefNumber, n.amount, await this.linksNamed(channel, n.billRefNumber));
    const id = newId('payment');
    const result = await this.db.transaction().execute(async (trx) => {
      const now = new Date();
      const row = await trx
        .insertInto('payments')
        .values({
          id,
          merchant_id: channel.merchantId,
          environment: channel.environment,
          channel_id: channel.id,
          kind: 'c2b',
          status: 'success',
          version: C2B_PAYMENT_VERSION,
          amount: kes,
          phone: truncate(n.msisdn, FIELD_MAX),
          reference: truncate(n.billRefNumber.trim(), C2B_REFERENCE_MAX),
          description: truncate(n.transactionType.trim(), FIELD_MAX) || 'C2B',
          callback_url: null,
          metadata: JSON.stringify(c2bMetadata(n)),
          api_key_id: null,
          link_id: linkId,
          mpesa_receipt: transId,
          transaction_date: n.transactionTime.trim() === '' ? null : truncate(n.transactionTime, 32),
          created_at: now,
          updated_at: now,
          settled_at: now,
        })
        // a literal predicate, so PostgreSQL can infer the partial unique index payments_c2b_channel_receipt
        .onConflict((oc) =>
          oc.columns(['channel_id', 'mpesa_receipt']).where(sql.ref('kind'), '=', sql.lit('c2b')).doNothing(),
        )
        .returningAll()
        .executeTakeFirst();
      if (!row) return undefined; // a concurrent confirmation of the same TransID got there first
      const payment = toPaymentView(row);
      const eventId = await appendEvent(trx, {
        type: C2B_EVENT_TYPE,
        merchantId: channel.merchantId,
        environment: channel.environment,
        subjectId: id,
        version: C2B_PAYMENT_VERSION,
        data: payment,
        at: now,
      });
      return { outcome: 'recorded' as const, payment, eventId };
    });
    if (result) return result;
    const raced = await this.#byReceipt(channel.id, transId);
    if (!raced) throw new Error(`c2b payment ${transId} conflicted but cannot be read`);
    return raced;
  }

  async #byReceipt(channelId: string, transId: string): Promise<ConfirmationResult | undefined> {
    const row = await this.db
      .selectFrom('payments')
      .selectAll()
      .where('kind', '=', 'c2b')
      .where('channel_id', '=', channelId)
      .where('mpesa_receipt', '=', transId)
      .executeTakeFirst();
    if (!row) return undefined;
    const event = await this.db
      .selectFrom('events')
      .select('id')
      .where('payment_id', '=', row.id)
      .where('payment_version', '=', C2B_PAYMENT_VERSION)
      .executeTakeFirst();
    return { outcome: 'duplicate', payment: toPaymentView(row), eventId: event?.id ?? null };
  }

  /** Stores a successful registration (and the validation rule, when given), with its audit row. */
  async saveRegistration(
    channel: ChannelRow,
    reg: {
      responseType: C2bResponseType;
      validation?: C2bValidationRule | undefined;
      conversationId: string;
    },
    by: Actor,
  ): Promise<C2bChannel> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('channels')
        .set({
          c2b_response_type: reg.responseType,
          ...(reg.validation !== undefined ? { c2b_validation: reg.validation } : {}),
          c2b_registered_at: sql<Date>`now()`,
          updated_at: sql<Date>`now()`,
        })
        .where('id', '=', channel.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendAudit(trx, {
        ...by,
        action: 'channel.c2b_register',
        targetId: channel.id,
        merchantId: channel.merchant_id,
        details: {
          shortcode: payShortcodeOf(row),
          responseType: reg.responseType,
          validation: row.c2b_validation,
          originatorConversationId: reg.conversationId,
        },
      });
      return toC2bChannel(row);
    });
  }

  /** Changes the validation rule only (Daraja is not called: it asks the URL either way). */
  async setValidation(channel: ChannelRow, validation: C2bValidationRule, by: Actor): Promise<C2bChannel> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('channels')
        .set({ c2b_validation: validation, updated_at: sql<Date>`now()` })
        .where('id', '=', channel.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendAudit(trx, {
        ...by,
        action: 'channel.c2b_update',
        targetId: channel.id,
        merchantId: channel.merchant_id,
        details: { validation, previous: channel.c2b_validation },
      });
      return toC2bChannel(row);
    });
  }
}
