/**
 * Payment links: a merchant's shareable page (`/pay/lnk_…`) that starts ordinary STK payments tagged
 * with the link id. The id is the only secret of the URL: `lnk_` + 22 base62 characters ≈ 131 bits.
 * A link is `active` until disabled, past `expiresAt`, or `maxPayments` payments have succeeded
 * (`exhausted`); stats come from the payments table (`link_id`).
 *
 * A link makes customers be prompted on its channel, so naming a channel takes what pushing on it takes:
 * a key with `payments:create` (or `*`). With `links:manage` alone a key may create and edit links on the
 * merchant's default channel for its environment (channelId unset, or naming that default), and may always
 * disable a link or move it back to the default channel.
 */
import { type Selectable, sql } from 'kysely';
import type { Db } from '../db';
import type { PaymentLinksTable } from '../db/tables/links';
import { MalipoError, notFound } from '../domain/errors';
import { newId } from '../domain/ids';
import { type Actor, appendAudit } from '../platform/audit';
import { resolveChannel } from '../platform/channels';
import { type AuthContext, hasScope, type KeyEnvironment } from '../platform/scopes';
import type { SecretBox } from '../platform/secret-box';
import { newestFirst } from '../db/paging';

export type LinkRow = Selectable<PaymentLinksTable>;
export type LinkAmount = number | { min: number; max: number };
export type LinkStatus = 'active' | 'disabled' | 'expired' | 'exhausted';

export interface LinkStats {
  /** Payments started through the link, any status. */
  payments: number;
  successfulPayments: number;
  /** Whole KES of successful payments. */
  amountCollected: number;
}

export interface PaymentLink {
  id: string;
  merchantId: string;
  environment: KeyEnvironment;
  url: string;
  title: string;
  description: string | null;
  reference: string;
  amount: LinkAmount;
  logoUrl: string | null;
  expiresAt: Date | null;
  maxPayments: number | null;
  channelId: string | null;
  status: LinkStatus;
  stats: LinkStats;
  createdAt: Date;
  updatedAt: Date;
}

export interface LinkInput {
  title: string;
  amount: LinkAmount;
  reference?: string | undefined;
  description?: string | undefined;
  logoUrl?: string | undefined;
  expiresAt?: Date | undefined;
  maxPayments?: number | undefined;
  channelId?: string | undefined;
}

export interface LinkPatch {
  title?: string | undefined;
  amount?: LinkAmount | undefined;
  reference?: string | undefined;
  description?: string | null | undefined;
  logoUrl?: string | null | undefined;
  expiresAt?: Date | null | undefined;
  maxPayments?: number | null | undefined;
  channelId?: string | null | undefined;
  status?: 'active' | 'disabled' | undefined;
}

const EMPTY_STATS: LinkStats = { payments: 0, successfulPayments: 0, amountCollected: 0 };

/** `https://pay.example.com` + `/pay/lnk_…`. */
export function linkUrl(publicUrl: string, id: string): string {
  return `${publicUrl}/pay/${id}`;
}

/** A default AccountReference from the title: its safe characters, at most 12. */
export function referenceFromTitle(title: string): string {
  const r = title
    .replace(/[^A-Za-z0-9 ._-]/g, '')
    .trim()
    .slice(0, 12)
    .trim();
  return r.length > 0 ? r : 'PAYLINK';
}

export function amountOf(row: Pick<LinkRow, 'amount' | 'amount_min' | 'amount_max'>): LinkAmount {
  if (row.amount !== null) return row.amount;
  return { min: row.amount_min ?? 1, max: row.amount_max ?? row.amount_min ?? 1 };
}

/** Why a link takes no payment now, or `active`. */
export function statusOf(row: LinkRow, stats: LinkStats, now: Date = new Date()): LinkStatus {
  if (row.status === 'disabled') return 'disabled';
  if (row.expires_at && new Date(row.expires_at).getTime() <= now.getTime()) return 'expired';
  if (row.max_payments !== null && stats.successfulPayments >= row.max_payments) return 'exhausted';
  return 'active';
}

function amountColumns(amount: LinkAmount) {
  return typeof amount === 'number'
    ? { amount, amount_min: null, amount_max: null }
    : { amount: null, amount_min: amount.min, amount_max: amount.max };
}

function invalid(path: string, message: string): MalipoError {
  return new MalipoError('VALIDATION_ERROR', 'The payment link is invalid', {
    details: [{ path, message, code: 'custom' }],
  });
}

/**
 * Who creates or edits a link: the key's merchant, environment and scopes. Without `scopes` (a caller
 * that is not an API key) only the default channel may be used.
 */
export type LinkAuth = Pick<AuthContext, 'merchantId' | 'environment'> & { scopes?: readonly string[] };

/**
 * A link's channel must be one the key could push on: with `payments:create`, or the merchant's default
 * for the environment. A channel being named now (`resolve`) must also exist, be active and suit the
 * key's environment; a link's unchanged channel is only checked for the key's right to it.
 */
async function assertMayPushOn(
  db: Db,
  box: SecretBox,
  auth: LinkAuth,
  channelId: string,
  opts: { resolve: boolean },
): Promise<void> {
  const isDefault = opts.resolve
    ? (await resolveChannel(db, box, auth, channelId)).channel.isDefault
    : ((
        await db
          .selectFrom('channels')
          .select('is_default')
          .where('id', '=', channelId)
          .where('merchant_id', '=', auth.merchantId)
          .where('mode', '=', auth.environment)
          .executeTakeFirst()
      )?.is_default ?? false);
  if (isDefault || hasScope(auth.scopes ?? [], 'payments:create')) return;
  throw new MalipoError(
    'MISSING_SCOPE',
    `A link on channel ${channelId} prompts customers on it, which needs payments:create as well as links:manage; leave channelId unset to use the default channel`,
    {
      details: [{ path: 'channelId', message: 'needs a key with payments:create', code: 'missing_scope' }],
    },
  );
}

export class LinkRepository {
  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
    private readonly publicUrl: string,
  ) {}

  /** Payments count, successes and KES collected for each link id (from payments.link_id). */
  async stats(ids: string[]): Promise<Map<string, LinkStats>> {
    const out = new Map<string, LinkStats>();
    if (ids.length === 0) return out;
    const rows = await this.db
      .selectFrom('payments')
      .select([
        'link_id',
        sql<string>`count(*)`.as('payments'),
        sql<string>`count(*) filter (where status = 'success')`.as('successes'),
        sql<string>`coalesce(sum(amount) filter (where status = 'success'), 0)`.as('collected'),
      ])
      .where('link_id', 'in', ids)
      .groupBy('link_id')
      .execute();
    for (const r of rows) {
      if (!r.link_id) continue;
      out.set(r.link_id, {
        payments: Number(r.payments),
        successfulPayments: Number(r.successes),
        amountCollected: Number(r.collected),
      });
    }
    return out;
  }

  view(row: LinkRow, stats: LinkStats = EMPTY_STATS, now = new Date()): PaymentLink {
    return {
      id: row.id,
      merchantId: row.merchant_id,
      environment: row.environment,
      url: linkUrl(this.publicUrl, row.id),
      title: row.title,
      description: row.description,
      reference: row.reference,
      amount: amountOf(row),
      logoUrl: row.logo_url,
      expiresAt: row.expires_at ? new Date(row.expires_at) : null,
      maxPayments: row.max_payments,
      channelId: row.channel_id,
      status: statusOf(row, stats, now),
      stats,
      createdAt: new Date(row.created_at),
      updatedAt: new Date(row.updated_at),
    };
  }

  /** The row by id alone (the public page), any merchant. */
  async findById(id: string): Promise<LinkRow | undefined> {
    return this.db.selectFrom('payment_links').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async row(auth: Pick<AuthContext, 'merchantId' | 'environment'>, id: string): Promise<LinkRow> {
    const row = await this.db
      .selectFrom('payment_links')
      .selectAll()
      .where('id', '=', id)
      .where('merchant_id', '=', auth.merchantId)
      .where('environment', '=', auth.environment)
      .executeTakeFirst();
    if (!row) throw notFound('Payment link');
    return row;
  }

  async get(auth: Pick<AuthContext, 'merchantId' | 'environment'>, id: string): Promise<PaymentLink> {
    const row = await this.row(auth, id);
    return this.view(row, (await this.stats([row.id])).get(row.id));
  }

  async list(
    auth: Pick<AuthContext, 'merchantId' | 'environment'>,
    opts: { limit: number; cursor?: { at: Date; id: string } | undefined },
  ): Promise<{ data: PaymentLink[]; nextCursor: string | null }> {
    const q = this.db
      .selectFrom('payment_links')
      .selectAll()
      .where('merchant_id', '=', auth.merchantId)
      .where('environment', '=', auth.environment);
    const page = await newestFirst(q, opts);
    const stats = await this.stats(page.rows.map((r) => r.id));
    return { data: page.rows.map((r) => this.view(r, stats.get(r.id))), nextCursor: page.nextCursor };
  }

  async create(auth: LinkAuth, input: LinkInput, by: Actor): Promise<PaymentLink> {
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
      throw invalid('expiresAt', 'must be in the future');
    }
    // a named channel must exist, be active, suit the key's environment, and be one the key could push on
    if (input.channelId) await assertMayPushOn(this.db, this.box, auth, input.channelId, { resolve: true });
    const id = newId('paymentLink');
    const row = await this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('payment_links')
        .values({
          id,
          merchant_id: auth.merchantId,
          environment: auth.environment,
          channel_id: input.channelId ?? null,
          title: input.title,
          description: input.description ?? null,
          reference: input.reference ?? referenceFromTitle(input.title),
          ...amountColumns(input.amount),
          logo_url: input.logoUrl ?? null,
          expires_at: input.expiresAt ?? null,
          max_payments: input.maxPayments ?? null,
          created_by: by.actor,
          updated_at: new Date(),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendAudit(trx, {
        ...by,
        action: 'payment_link.create',
        targetId: id,
        merchantId: auth.merchantId,
        details: { environment: auth.environment, amount: input.amount },
      });
      return inserted;
    });
    return this.view(row);
  }

  async update(auth: LinkAuth, id: string, patch: LinkPatch, by: Actor): Promise<PaymentLink> {
    const current = await this.row(auth, id);
    // the channel the link prompts on after the change; disabling it stops the prompts, so it is always allowed
    const channelId = patch.channelId !== undefined ? patch.channelId : current.channel_id;
    const changes = Object.entries(patch).filter(([, v]) => v !== undefined);
    const onlyDisables = changes.length === 1 && patch.status === 'disabled';
    if (channelId && !onlyDisables) {
      await assertMayPushOn(this.db, this.box, auth, channelId, { resolve: patch.channelId !== undefined });
    }
    const set: Partial<Record<keyof PaymentLinksTable, unknown>> = { updated_at: new Date() };
    if (patch.title !== undefined) set.title = patch.title;
    if (patch.reference !== undefined) set.reference = patch.reference;
    if (patch.description !== undefined) set.description = patch.description;
    if (patch.logoUrl !== undefined) set.logo_url = patch.logoUrl;
    if (patch.expiresAt !== undefined) set.expires_at = patch.expiresAt;
    if (patch.maxPayments !== undefined) set.max_payments = patch.maxPayments;
    if (patch.channelId !== undefined) set.channel_id = patch.channelId;
    if (patch.amount !== undefined) Object.assign(set, amountColumns(patch.amount));
    if (patch.status !== undefined) {
      set.status = patch.status;
      set.disabled_at = patch.status === 'disabled' ? new Date() : null;
    }
    const row = await this.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('payment_links')
        .set(set as never)
        .where('id', '=', id)
        .where('merchant_id', '=', auth.merchantId)
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendAudit(trx, {
        ...by,
        action: patch.status === 'disabled' ? 'payment_link.disable' : 'payment_link.update',
        targetId: id,
        merchantId: auth.merchantId,
        details: { fields: Object.keys(patch).filter((k) => patch[k as keyof LinkPatch] !== undefined) },
      });
      return updated;
    });
    return this.view(row, (await this.stats([id])).get(id));
  }

  disable(auth: LinkAuth, id: string, by: Actor): Promise<PaymentLink> {
    return this.update(auth, id, { status: 'disabled' }, by);
  }
}
