/**
 * Channels: a merchant's Daraja shortcode with its credentials. Passkey, consumer key/secret and initiator
 * password are sealed with the secret box before they reach the database and are only ever shown masked.
 * A channel's environment decides which keys may use it (see keyEnvironmentFor).
 *
 * Base URLs (where the sealed credentials are sent) follow ChannelUrlPolicy, checked when saved and again
 * whenever a client is built for the channel (channelDarajaClient), with every connection guarded and
 * pinned by the outbound SSRF guard. A new base URL needs the channel's secrets in the same request, so
 * `channels:write` alone cannot send the stored secrets to another host.
 */
import { type Selectable, sql } from 'kysely';
import type { Config } from '../config';
import { DarajaClient, type TokenCache } from '../daraja/client';
import type { Db } from '../db';
import type { ChannelsTable } from '../db/schema';
import { MalipoError, notFound } from '../domain/errors';
import { newId } from '../domain/ids';
import { type Actor, appendAudit } from './audit';
import { type AuthContext, type ChannelEnvironment, type KeyEnvironment, keyEnvironmentFor } from './scopes';
import { maskSecret, type SecretBox } from './secret-box';
import {
  assertWebhookUrlAllowed,
  CHANNEL_BASE_URL_TARGET,
  checkWebhookUrlSyntax,
  normalHost,
  type Resolver,
} from '../webhooks/ssrf';

export type ChannelType = 'paybill' | 'till';
type ChannelRow = Selectable<ChannelsTable>;

/** Where Daraja lives for each environment; a simulator channel must name its base URL. */
export const DEFAULT_BASE_URLS: Record<ChannelEnvironment, string | null> = {
  simulator: null,
  'safaricom-sandbox': 'https://sandbox.safaricom.co.ke',
  production: 'https://api.safaricom.co.ke',
};

/**
 * Where base URLs may point. `production` mode: https only, no loopback/private/metadata addresses
 * (the outbound SSRF guard), and no simulator channels. Production and safaricom-sandbox channels may
 * only name Safaricom's host of their environment, or a host the operator allows
 * (MALIPO_DARAJA_ALLOWED_HOSTS).
 */
export interface ChannelUrlPolicy {
  mode: 'development' | 'production';
  /** Lower-case host names beyond Safaricom's own. */
  allowedHosts: readonly string[];
  /** DNS for the guard; injected in tests, the system resolver otherwise. */
  resolve?: Resolver | undefined;
}

export function channelUrlPolicy(
  config: Pick<Config, 'isProduction' | 'MALIPO_DARAJA_ALLOWED_HOSTS'>,
  resolve?: Resolver | undefined,
): ChannelUrlPolicy {
  return {
    mode: config.isProduction ? 'production' : 'development',
    allowedHosts: config.MALIPO_DARAJA_ALLOWED_HOSTS,
    ...(resolve ? { resolve } : {}),
  };
}

/** For code that runs only in development mode (`malipo dev` bootstrap, tests of the simulator). */
export const DEVELOPMENT_CHANNEL_POLICY: ChannelUrlPolicy = { mode: 'development', allowedHosts: [] };

const urlRefused = (reason: string, code = 'url_not_allowed'): MalipoError =>
  new MalipoError('VALIDATION_ERROR', `The channel base URL is not allowed: ${reason}`, {
    details: [{ path: 'baseUrl', message: reason, code }],
  });

/** A simulator channel is for development: production mode refuses to create, change or call one. */
function assertEnvironmentAllowed(environment: ChannelEnvironment, policy: ChannelUrlPolicy): void {
  if (environment === 'simulator' && policy.mode === 'production') {
    throw new MalipoError('VALIDATION_ERROR', 'Simulator channels are not available in production mode', {
      details: [
        { path: 'environment', message: 'not allowed in production mode', code: 'simulator_in_production' },
      ],
    });
  }
}

/**
 * The checks that need no DNS: the environment, the guard's syntax rules (scheme, credentials, no query
 * or fragment, literal addresses) and the allowed hosts. Returns the parsed URL.
 */
export function checkChannelBaseUrl(
  environment: ChannelEnvironment,
  baseUrl: string,
  policy: ChannelUrlPolicy,
): URL {
  assertEnvironmentAllowed(environment, policy);
  const url = checkWebhookUrlSyntax(baseUrl, policy.mode, CHANNEL_BASE_URL_TARGET);
  const safaricom = DEFAULT_BASE_URLS[environment];
  if (safaricom === null) return url; // simulator: any host the guard allows
  const host = normalHost(url);
  const own = new URL(safaricom).hostname;
  if (host === own) {
    // Safaricom's host is called with the consumer secret: never in clear
    if (url.protocol !== 'https:') throw urlRefused(`${own} must be called over https`);
    return url;
  }
  if (!policy.allowedHosts.includes(host)) {
    throw urlRefused(
      `a ${environment} channel may only call ${own} (an operator can allow other hosts with MALIPO_DARAJA_ALLOWED_HOSTS), not ${host}`,
      'host_not_allowed',
    );
  }
  return url;
}

/** The check when a base URL is saved: checkChannelBaseUrl, then DNS (as for webhook URLs). */
export async function assertChannelBaseUrlAllowed(
  environment: ChannelEnvironment,
  baseUrl: string,
  policy: ChannelUrlPolicy,
): Promise<void> {
  checkChannelBaseUrl(environment, baseUrl, policy);
  await assertWebhookUrlAllowed(baseUrl, {
    mode: policy.mode,
    resolve: policy.resolve,
    target: CHANNEL_BASE_URL_TARGET,
  });
}

/**
 * Tables whose rows may point at a channel (`channel_id`). A referenced channel is disabled, never
 * deleted; later issues add their tables here (a table that does not exist yet is skipped).
 */
export const CHANNEL_REFERENCING_TABLES = ['payments', 'payouts', 'payment_links'];

export interface ChannelInput {
  name?: string | undefined;
  type: ChannelType;
  /** The BusinessShortCode: the paybill number, or a till's store (head office) number. */
  shortcode: string;
  /** Required for a till: the till number customers pay (PartyB). */
  tillNumber?: string | null | undefined;
  environment: ChannelEnvironment;
  baseUrl?: string | null | undefined;
  isDefault?: boolean | undefined;
  passkey: string;
  consumerKey: string;
  consumerSecret: string;
  initiatorName?: string | null | undefined;
  initiatorPassword?: string | null | undefined;
}

export type ChannelPatch = Partial<Omit<ChannelInput, 'environment'>> & { status?: 'active' | 'disabled' };

/** What the API returns: secrets masked. */
export interface PublicChannel {
  id: string;
  merchantId: string;
  name: string;
  type: ChannelType;
  shortcode: string;
  tillNumber: string | null;
  environment: ChannelEnvironment;
  baseUrl: string;
  isDefault: boolean;
  status: 'active' | 'disabled';
  initiatorName: string | null;
  credentials: {
    passkey: string;
    consumerKey: string;
    consumerSecret: string;
    initiatorPassword: string | null;
  };
  createdAt: Date;
  updatedAt: Date;
}

/** What activities need to call Daraja. Never log it, never put it in workflow history. */
export interface ChannelCredentials {
  channelId: string;
  environment: ChannelEnvironment;
  baseUrl: string;
  type: ChannelType;
  shortcode: string;
  tillNumber: string | null;
  passkey: string;
  consumerKey: string;
  consumerSecret: string;
  initiatorName: string | null;
  initiatorPassword: string | null;
}

function effectiveBaseUrl(row: Pick<ChannelRow, 'base_url' | 'environment'>): string {
  return row.base_url ?? DEFAULT_BASE_URLS[row.environment] ?? '';
}

export function publicChannel(row: ChannelRow, box: SecretBox): PublicChannel {
  return {
    id: row.id,
    merchantId: row.merchant_id,
    name: row.name,
    type: row.type,
    shortcode: row.shortcode,
    tillNumber: row.till_number,
    environment: row.environment,
    baseUrl: effectiveBaseUrl(row),
    isDefault: row.is_default,
    status: row.status,
    initiatorName: row.initiator_name,
    credentials: {
      passkey: maskSecret(box.open(row.passkey_enc)),
      consumerKey: maskSecret(box.open(row.consumer_key_enc)),
      consumerSecret: maskSecret(box.open(row.consumer_secret_enc)),
      initiatorPassword: row.initiator_password_enc ? maskSecret(box.open(row.initiator_password_enc)) : null,
    },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function channelCredentials(row: ChannelRow, box: SecretBox): ChannelCredentials {
  return {
    channelId: row.id,
    environment: row.environment,
    baseUrl: effectiveBaseUrl(row),
    type: row.type,
    shortcode: row.shortcode,
    tillNumber: row.till_number,
    passkey: box.open(row.passkey_enc),
    consumerKey: box.open(row.consumer_key_enc),
    consumerSecret: box.open(row.consumer_secret_enc),
    initiatorName: row.initiator_name,
    initiatorPassword: row.initiator_password_enc ? box.open(row.initiator_password_enc) : null,
  };
}

function invalid(path: string, message: string): MalipoError {
  return new MalipoError('VALIDATION_ERROR', 'The channel is invalid', {
    details: [{ path, message, code: 'custom' }],
  });
}

/** Rules that span fields (the route's zod schema checks each field on its own). */
function checkShape(c: {
  type: ChannelType;
  tillNumber: string | null;
  environment: ChannelEnvironment;
  baseUrl: string | null;
  initiatorName: string | null;
  initiatorPassword: boolean;
}): void {
  if (c.type === 'till' && !c.tillNumber) throw invalid('tillNumber', 'a till channel needs its till number');
  if (c.type === 'paybill' && c.tillNumber)
    throw invalid('tillNumber', 'only a till channel has a till number');
  if (c.environment === 'simulator' && !c.baseUrl) {
    throw invalid('baseUrl', 'a simulator channel needs the base URL of the simulator');
  }
  if (c.initiatorPassword && !c.initiatorName) {
    throw invalid('initiatorName', 'an initiator password needs an initiator name');
  }
}

/** Refuses a channel the key's environment may not use. */
export function assertChannelEnvironment(keyEnv: KeyEnvironment, channelEnv: ChannelEnvironment): void {
  if (keyEnvironmentFor(channelEnv) !== keyEnv) {
    throw new MalipoError(
      'FORBIDDEN',
      keyEnv === 'test'
        ? `A test key can use only simulator and safaricom-sandbox channels, not ${channelEnv}`
        : `A live key can use only production channels, not ${channelEnv}`,
      {
        details: [
          { path: 'environment', message: `not allowed for a ${keyEnv} key`, code: 'environment_mismatch' },
        ],
      },
    );
  }
}

async function clearOtherDefaults(
  db: Db,
  merchantId: string,
  mode: KeyEnvironment,
  keep: string,
): Promise<void> {
  await db
    .updateTable('channels')
    .set({ is_default: false })
    .where('merchant_id', '=', merchantId)
    .where('mode', '=', mode)
    .where('id', '!=', keep)
    .where('is_default', '=', true)
    .execute();
}

export async function createChannel(
  db: Db,
  box: SecretBox,
  merchantId: string,
  input: ChannelInput,
  by: Actor,
  policy: ChannelUrlPolicy,
): Promise<PublicChannel> {
  assertEnvironmentAllowed(input.environment, policy);
  checkShape({
    type: input.type,
    tillNumber: input.tillNumber ?? null,
    environment: input.environment,
    baseUrl: input.baseUrl ?? null,
    initiatorName: input.initiatorName ?? null,
    initiatorPassword: Boolean(input.initiatorPassword),
  });
  if (input.baseUrl) await assertChannelBaseUrlAllowed(input.environment, input.baseUrl, policy);
  const mode = keyEnvironmentFor(input.environment);
  return db.transaction().execute(async (trx) => {
    const merchant = await trx
      .selectFrom('merchants')
      .select('id')
      .where('id', '=', merchantId)
      .executeTakeFirst();
    if (!merchant) throw notFound('Merchant');
    // the first channel of an environment becomes its default
    const existing = await trx
      .selectFrom('channels')
      .select('id')
      .where('merchant_id', '=', merchantId)
      .where('mode', '=', mode)
      .where('is_default', '=', true)
      .executeTakeFirst();
    const id = newId('channel');
    const isDefault = input.isDefault ?? !existing;
    if (isDefault) await clearOtherDefaults(trx, merchantId, mode, id);
    const row = await trx
      .insertInto('channels')
      .values({
        id,
        merchant_id: merchantId,
        name: input.name ?? `${input.type} ${input.shortcode}`,
        type: input.type,
        shortcode: input.shortcode,
        till_number: input.tillNumber ?? null,
        environment: input.environment,
        mode,
        base_url: input.baseUrl ?? null,
        is_default: isDefault,
        passkey_enc: box.seal(input.passkey),
        consumer_key_enc: box.seal(input.consumerKey),
        consumer_secret_enc: box.seal(input.consumerSecret),
        initiator_name: input.initiatorName ?? null,
        initiator_password_enc: input.initiatorPassword ? box.seal(input.initiatorPassword) : null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await appendAudit(trx, {
      ...by,
      action: 'channel.create',
      targetId: id,
      merchantId,
      details: { environment: input.environment, type: input.type, shortcode: input.shortcode, isDefault },
    });
    return publicChannel(row, box);
  });
}

/** A merchant's channel by id; another merchant's (or an unknown) id is 404. */
async function channelRow(db: Db, merchantId: string, channelId: string): Promise<ChannelRow> {
  const row = await db
    .selectFrom('channels')
    .selectAll()
    .where('id', '=', channelId)
    .where('merchant_id', '=', merchantId)
    .executeTakeFirst();
  if (!row) throw notFound('Channel');
  return row;
}

export async function getChannel(
  db: Db,
  box: SecretBox,
  merchantId: string,
  channelId: string,
  keyEnv?: KeyEnvironment,
): Promise<PublicChannel> {
  const row = await channelRow(db, merchantId, channelId);
  if (keyEnv) assertChannelEnvironment(keyEnv, row.environment);
  return publicChannel(row, box);
}

export async function listChannels(
  db: Db,
  box: SecretBox,
  merchantId: string,
  opts: { mode?: KeyEnvironment | undefined } = {},
): Promise<PublicChannel[]> {
  let q = db.selectFrom('channels').selectAll().where('merchant_id', '=', merchantId);
  if (opts.mode) q = q.where('mode', '=', opts.mode);
  const rows = await q.orderBy('created_at').orderBy('id').execute();
  return rows.map((r) => publicChannel(r, box));
}

/** The secrets a patch must carry when it moves the channel to another base URL. */
function missingSecrets(row: ChannelRow, patch: ChannelPatch): string[] {
  const missing: string[] = (['passkey', 'consumerKey', 'consumerSecret'] as const).filter((k) => !patch[k]);
  // an initiator password the channel keeps must be re-entered too (or removed with null)
  const keepsInitiator = patch.initiatorPassword === undefined && row.initiator_password_enc !== null;
  if (keepsInitiator) missing.push('initiatorPassword');
  return missing;
}

function assertSecretsForNewBaseUrl(row: ChannelRow, patch: ChannelPatch): void {
  if (patch.baseUrl === undefined) return;
  const nextBase = patch.baseUrl ?? DEFAULT_BASE_URLS[row.environment] ?? '';
  const missing = nextBase === effectiveBaseUrl(row) ? [] : missingSecrets(row, patch);
  if (missing.length === 0) return;
  throw new MalipoError(
    'VALIDATION_ERROR',
    `Changing a channel’s baseUrl needs its secrets in the same request: ${missing.join(', ')}`,
    {
      details: missing.map((path) => ({
        path,
        message: 'required when baseUrl changes',
        code: 'secret_required',
      })),
    },
  );
}

/**
 * Applies a patch. A new base URL must pass ChannelUrlPolicy and must come with every secret the
 * channel holds (passkey, consumer key and secret, and the initiator password if it has one): the
 * stored secrets are never sent to a host that the caller has not proved to know them for. In
 * production mode a simulator channel can only be disabled.
 */
export async function updateChannel(
  db: Db,
  box: SecretBox,
  merchantId: string,
  channelId: string,
  patch: ChannelPatch,
  by: Actor & { keyEnvironment?: KeyEnvironment | undefined },
  policy: ChannelUrlPolicy,
): Promise<PublicChannel> {
  const current = await channelRow(db, merchantId, channelId);
  if (by.keyEnvironment) assertChannelEnvironment(by.keyEnvironment, current.environment);
  const onlyDisables = Object.entries(patch).every(
    ([k, v]) => v === undefined || (k === 'status' && v === 'disabled') || (k === 'isDefault' && v === false),
  );
  if (!onlyDisables) assertEnvironmentAllowed(current.environment, policy);
  // before any DNS lookup of the new host
  assertSecretsForNewBaseUrl(current, patch);
  if (patch.baseUrl) await assertChannelBaseUrlAllowed(current.environment, patch.baseUrl, policy);
  return db.transaction().execute(async (trx) => {
    const row = await channelRow(trx, merchantId, channelId);
    if (by.keyEnvironment) assertChannelEnvironment(by.keyEnvironment, row.environment);
    assertSecretsForNewBaseUrl(row, patch); // again, on the row this transaction changes
    const next = {
      type: patch.type ?? row.type,
      tillNumber: patch.tillNumber !== undefined ? patch.tillNumber : row.till_number,
      environment: row.environment,
      baseUrl: patch.baseUrl !== undefined ? patch.baseUrl : row.base_url,
      initiatorName: patch.initiatorName !== undefined ? patch.initiatorName : row.initiator_name,
      initiatorPassword:
        patch.initiatorPassword !== undefined
          ? Boolean(patch.initiatorPassword)
          : Boolean(row.initiator_password_enc),
    };
    if (next.type === 'paybill' && patch.type === 'paybill' && patch.tillNumber === undefined)
      next.tillNumber = null;
    checkShape(next);
    const changed = Object.keys(patch).filter((k) => (patch as Record<string, unknown>)[k] !== undefined);
    if (patch.isDefault === true) await clearOtherDefaults(trx, merchantId, row.mode, channelId);
    const updated = await trx
      .updateTable('channels')
      .set({
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        type: next.type,
        till_number: next.tillNumber,
        base_url: next.baseUrl,
        initiator_name: next.initiatorName,
        ...(patch.shortcode !== undefined ? { shortcode: patch.shortcode } : {}),
        ...(patch.isDefault !== undefined ? { is_default: patch.isDefault } : {}),
        ...(patch.status !== undefined ? { status: patch.status } : {}),
        ...(patch.passkey !== undefined ? { passkey_enc: box.seal(patch.passkey) } : {}),
        ...(patch.consumerKey !== undefined ? { consumer_key_enc: box.seal(patch.consumerKey) } : {}),
        ...(patch.consumerSecret !== undefined
          ? { consumer_secret_enc: box.seal(patch.consumerSecret) }
          : {}),
        ...(patch.initiatorPassword !== undefined
          ? { initiator_password_enc: patch.initiatorPassword ? box.seal(patch.initiatorPassword) : null }
          : {}),
        updated_at: sql<Date>`now()`,
      })
      .where('id', '=', channelId)
      .returningAll()
      .executeTakeFirstOrThrow();
    await appendAudit(trx, {
      ...by,
      action: 'channel.update',
      targetId: channelId,
      merchantId,
      details: { fields: changed },
    });
    return publicChannel(updated, box);
  });
}

async function isReferenced(db: Db, channelId: string): Promise<boolean> {
  for (const table of CHANNEL_REFERENCING_TABLES) {
    const exists = await sql<{ t: string | null }>`select to_regclass(${table})::text as t`.execute(db);
    if (!exists.rows[0]?.t) continue;
    const hit = await sql`select 1 from ${sql.table(table)} where channel_id = ${channelId} limit 1`.execute(
      db,
    );
    if (hit.rows.length > 0) return true;
  }
  return false;
}

/** Deletes a channel nothing references; one that payments reference is disabled instead. */
export async function deleteChannel(
  db: Db,
  merchantId: string,
  channelId: string,
  by: Actor & { keyEnvironment?: KeyEnvironment | undefined },
): Promise<{ id: string; deleted: boolean; status: 'deleted' | 'disabled' }> {
  return db.transaction().execute(async (trx) => {
    const row = await channelRow(trx, merchantId, channelId);
    if (by.keyEnvironment) assertChannelEnvironment(by.keyEnvironment, row.environment);
    if (await isReferenced(trx, channelId)) {
      await trx
        .updateTable('channels')
        .set({ status: 'disabled', is_default: false, updated_at: sql<Date>`now()` })
        .where('id', '=', channelId)
        .execute();
      await appendAudit(trx, { ...by, action: 'channel.disable', targetId: channelId, merchantId });
      return { id: channelId, deleted: false, status: 'disabled' as const };
    }
    await trx.deleteFrom('channels').where('id', '=', channelId).execute();
    await appendAudit(trx, { ...by, action: 'channel.delete', targetId: channelId, merchantId });
    return { id: channelId, deleted: true, status: 'deleted' as const };
  });
}

export interface ResolvedChannel {
  /** Masked, for API responses. */
  channel: PublicChannel;
  /** In clear, for activities only. */
  credentials: ChannelCredentials;
}

/**
 * The channel a payment request runs against: the named one, or the merchant's default for the key's
 * environment. Unknown or another merchant's channel → 404; a channel the key's environment may not use
 * → 403 FORBIDDEN; a disabled channel → 409 CONFLICT.
 */
/**
 * The one way to build a Daraja client for a channel: the base URL is checked against the policy again
 * (it may predate a rule or a config change), and every connection passes the outbound guard, pinned
 * to the address the guard approved. A refusal is VALIDATION_ERROR on `baseUrl`; nothing is sent.
 */
export function channelDarajaClient(
  c: Pick<ChannelCredentials, 'environment' | 'baseUrl' | 'consumerKey' | 'consumerSecret'>,
  policy: ChannelUrlPolicy,
  opts: {
    tokenCache?: TokenCache | undefined;
    timeoutMs?: number | undefined;
    fetch?: typeof fetch | undefined;
  } = {},
): DarajaClient {
  checkChannelBaseUrl(c.environment, c.baseUrl, policy);
  return new DarajaClient({
    baseUrl: c.baseUrl,
    consumerKey: c.consumerKey,
    consumerSecret: c.consumerSecret,
    guard: { mode: policy.mode, resolve: policy.resolve },
    ...(opts.tokenCache ? { tokenCache: opts.tokenCache } : {}),
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
}

export async function resolveChannel(
  db: Db,
  box: SecretBox,
  auth: Pick<AuthContext, 'merchantId' | 'environment'>,
  channelId?: string,
): Promise<ResolvedChannel> {
  let row: ChannelRow | undefined;
  if (channelId) {
    row = await channelRow(db, auth.merchantId, channelId);
    assertChannelEnvironment(auth.environment, row.environment);
  } else {
    row = await db
      .selectFrom('channels')
      .selectAll()
      .where('merchant_id', '=', auth.merchantId)
      .where('mode', '=', auth.environment)
      .where('is_default', '=', true)
      .executeTakeFirst();
    if (!row) throw notFound(`Default ${auth.environment} channel`);
  }
  if (row.status !== 'active') throw new MalipoError('CONFLICT', `Channel ${row.id} is disabled`);
  return { channel: publicChannel(row, box), credentials: channelCredentials(row, box) };
}

/** For activities: credentials by channel id (the workflow carries only the id). */
export async function loadChannelCredentials(
  db: Db,
  box: SecretBox,
  channelId: string,
): Promise<ChannelCredentials> {
  const row = await db.selectFrom('channels').selectAll().where('id', '=', channelId).executeTakeFirst();
  if (!row) throw notFound('Channel');
  return channelCredentials(row, box);
}
