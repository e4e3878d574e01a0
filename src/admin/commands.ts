/**
 * The `malipo admin …` operations as plain functions over a database and a secret box, so tests call them
 * directly and the CLI (src/admin/cli.ts) only parses flags and prints. Every change is audited as `cli`.
 */
import { z } from 'zod';
import { isRole, type Role } from '../accounts/roles';
import { createInvite } from '../accounts/tokens';
import { EmailSchema } from '../accounts/users';
import type { Db } from '../db';
import { MalipoError, notFound } from '../domain/errors';
import { parseOrThrow } from '../http/errors';
import { CreateChannelSchema } from '../http/routes/channels';
import { listAudit } from '../platform/audit';
import { type ChannelUrlPolicy, createChannel, listChannels, type PublicChannel } from '../platform/channels';
import {
  type ApiKeyView,
  createApiKey,
  type IssuedKey,
  listApiKeys,
  OPERATOR,
  revokeApiKey,
  rotateApiKey,
} from '../platform/keys';
import { createMerchant, listMerchants, type Merchant } from '../platform/merchants';
import { isScope, type Scope } from '../platform/scopes';
import type { SecretBox } from '../platform/secret-box';

export interface AdminContext {
  db: Db;
  secretBox: SecretBox;
  /** Recorded in the audit log; `cli` unless a caller says otherwise. */
  actor?: string;
  /** Where channel base URLs may point (from the configuration). */
  channelPolicy: ChannelUrlPolicy;
  /** The base URL links are printed with (invites); MALIPO_PUBLIC_URL. */
  publicUrl?: string;
}

const by = (ctx: AdminContext) => ({ actor: ctx.actor ?? 'cli' });

export async function adminMerchantCreate(ctx: AdminContext, opts: { name: string }): Promise<Merchant> {
  const name = parseOrThrow(z.string().trim().min(1).max(200), opts.name, 'merchant name');
  return createMerchant(ctx.db, { name }, by(ctx));
}

export async function adminMerchantList(ctx: AdminContext): Promise<Merchant[]> {
  return listMerchants(ctx.db);
}

/** `scopes` as given on the command line: `payments:create,payments:read` or `*`. */
export function parseScopes(text: string): Scope[] {
  const list = text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = list.filter((s) => !isScope(s));
  if (list.length === 0 || bad.length > 0) {
    throw new MalipoError('VALIDATION_ERROR', `Unknown or missing scopes: ${bad.join(', ') || '(none)'}`, {
      details: [
        { path: 'scopes', message: `unknown: ${bad.join(', ') || '(none given)'}`, code: 'invalid_value' },
      ],
    });
  }
  return list as Scope[];
}

export async function adminKeyCreate(
  ctx: AdminContext,
  opts: { merchant: string; env: string; scopes: string; label?: string; expiresAt?: string },
): Promise<IssuedKey> {
  const env = parseOrThrow(z.enum(['test', 'live']), opts.env, 'environment');
  const expiresAt = opts.expiresAt
    ? new Date(parseOrThrow(z.iso.datetime(), opts.expiresAt, 'expiry'))
    : null;
  return createApiKey(
    ctx.db,
    ctx.secretBox,
    {
      merchantId: opts.merchant,
      environment: env,
      scopes: parseScopes(opts.scopes),
      label: opts.label,
      expiresAt,
    },
    by(ctx),
    OPERATOR,
  );
}

export async function adminKeyList(ctx: AdminContext, opts: { merchant: string }): Promise<ApiKeyView[]> {
  return listApiKeys(ctx.db, opts.merchant);
}

async function merchantOfKey(db: Db, keyId: string): Promise<string> {
  const row = await db
    .selectFrom('api_keys')
    .select('merchant_id')
    .where('id', '=', keyId)
    .executeTakeFirst();
  if (!row) throw notFound('API key');
  return row.merchant_id;
}

export async function adminKeyRevoke(ctx: AdminContext, opts: { key: string }): Promise<ApiKeyView> {
  return revokeApiKey(ctx.db, await merchantOfKey(ctx.db, opts.key), opts.key, by(ctx), OPERATOR);
}

export async function adminKeyRotate(
  ctx: AdminContext,
  opts: { key: string; overlapSeconds?: number },
): Promise<{ key: IssuedKey; previous: ApiKeyView }> {
  return rotateApiKey(
    ctx.db,
    ctx.secretBox,
    await merchantOfKey(ctx.db, opts.key),
    opts.key,
    { overlapSeconds: opts.overlapSeconds },
    by(ctx),
    OPERATOR,
  );
}

export interface AdminChannelOptions {
  merchant: string;
  env: string;
  type: string;
  shortcode: string;
  tillNumber?: string;
  name?: string;
  baseUrl?: string;
  default?: boolean;
  passkey?: string;
  consumerKey?: string;
  consumerSecret?: string;
  initiatorName?: string;
  initiatorPassword?: string;
}

/**
 * Secrets may come from flags or, to keep them out of shell history and `ps`, from the environment:
 * MALIPO_CHANNEL_PASSKEY, MALIPO_CHANNEL_CONSUMER_KEY, MALIPO_CHANNEL_CONSUMER_SECRET,
 * MALIPO_CHANNEL_INITIATOR_PASSWORD.
 */
export async function adminChannelCreate(
  ctx: AdminContext,
  opts: AdminChannelOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<PublicChannel> {
  const input = parseOrThrow(
    CreateChannelSchema,
    {
      name: opts.name,
      type: opts.type,
      shortcode: opts.shortcode,
      tillNumber: opts.tillNumber,
      environment: opts.env,
      baseUrl: opts.baseUrl,
      isDefault: opts.default,
      passkey: opts.passkey ?? env.MALIPO_CHANNEL_PASSKEY,
      consumerKey: opts.consumerKey ?? env.MALIPO_CHANNEL_CONSUMER_KEY,
      consumerSecret: opts.consumerSecret ?? env.MALIPO_CHANNEL_CONSUMER_SECRET,
      initiatorName: opts.initiatorName,
      initiatorPassword: opts.initiatorPassword ?? env.MALIPO_CHANNEL_INITIATOR_PASSWORD,
    },
    'channel',
  );
  return createChannel(ctx.db, ctx.secretBox, opts.merchant, input, by(ctx), ctx.channelPolicy);
}

export async function adminChannelList(
  ctx: AdminContext,
  opts: { merchant: string },
): Promise<PublicChannel[]> {
  return listChannels(ctx.db, ctx.secretBox, opts.merchant);
}

export async function adminAuditList(ctx: AdminContext, opts: { merchant: string; limit?: number }) {
  return listAudit(ctx.db, opts.merchant, opts.limit ?? 100);
}

export interface InviteLink {
  merchantId: string;
  email: string;
  role: Role;
  /** The one-time link; the invitee sets a password there. Printed once: only its hash is stored. */
  url: string;
  expiresAt: string;
}

/** `malipo admin merchant invite`: a one-time invite link (7 days) to join a merchant with a role. */
export async function adminMerchantInvite(
  ctx: AdminContext,
  opts: { merchant: string; email: string; role: string },
): Promise<InviteLink> {
  const email = parseOrThrow(EmailSchema, opts.email, 'email');
  if (!isRole(opts.role)) {
    throw new MalipoError('VALIDATION_ERROR', 'The role is invalid', {
      details: [{ path: 'role', message: 'must be owner, developer or viewer', code: 'invalid_value' }],
    });
  }
  const merchant = await ctx.db
    .selectFrom('merchants')
    .select('id')
    .where('id', '=', opts.merchant)
    .executeTakeFirst();
  if (!merchant) throw notFound('Merchant');
  const { token, expiresAt } = await createInvite(
    ctx.db,
    { merchantId: merchant.id, email, role: opts.role },
    by(ctx).actor,
  );
  const base = (ctx.publicUrl ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
  return {
    merchantId: merchant.id,
    email,
    role: opts.role,
    url: `${base}/dashboard/invite/${token}`,
    expiresAt: expiresAt.toISOString(),
  };
}
