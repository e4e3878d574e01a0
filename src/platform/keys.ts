/**
 * API keys: `mlp_test_…` / `mlp_live_…` + 43 base62 characters (≈256 bits). Only the SHA-256 of a key is
 * stored, with a display prefix and the last four characters; the key and its webhook signing secret are
 * returned once, at creation. Revocation is immediate; rotation issues a new key and lets the old one live
 * for a chosen overlap (default none). Creating, rotating and revoking follow one grant rule (`KeyManager`).
 */
import crypto from 'node:crypto';
import { type Selectable, sql } from 'kysely';
import type { Db } from '../db';
import type { ApiKeysTable } from '../db/schema';
import { MalipoError, notFound } from '../domain/errors';
import { newId, randomBase62 } from '../domain/ids';
import { type Actor, appendAudit } from './audit';
import { type AuthContext, canGrant, type KeyEnvironment, type Scope } from './scopes';
import type { SecretBox } from './secret-box';

/** 43 base62 characters carry log2(62)·43 ≈ 256 bits, i.e. 32 random bytes. */
const KEY_RANDOM_CHARS = 43;
const KEY_PATTERN = /^mlp_(test|live)_[0-9A-Za-z]{43}$/;
/** The longest overlap a rotation may leave the old key valid for. */
export const MAX_ROTATION_OVERLAP_SECONDS = 7 * 24 * 3600;

export function generateApiKey(environment: KeyEnvironment): string {
  return `mlp_${environment}_${randomBase62(KEY_RANDOM_CHARS)}`;
}

export function hashApiKey(key: string): string {
  return crypto.createHash('sha256').update(key, 'utf8').digest('hex');
}

export function looksLikeApiKey(value: string): boolean {
  return KEY_PATTERN.test(value);
}

/** Standard Webhooks style: `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return `whsec_${crypto.randomBytes(32).toString('base64')}`;
}

export type KeyState = 'active' | 'expired' | 'revoked';

/** What the API shows about a key: never the key, never its hash. */
export interface ApiKeyView {
  id: string;
  merchantId: string;
  environment: KeyEnvironment;
  label: string;
  scopes: string[];
  prefix: string;
  last4: string;
  state: KeyState;
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  rotatedAt: Date | null;
  replacedBy: string | null;
}

/** A new key: the only time `key` and `webhookSecret` exist in clear outside the caller. */
export interface IssuedKey extends ApiKeyView {
  key: string;
  webhookSecret: string;
}

type KeyRow = Selectable<ApiKeysTable>;

export function keyState(row: Pick<KeyRow, 'revoked_at' | 'expires_at'>, now: Date = new Date()): KeyState {
  if (row.revoked_at && row.revoked_at.getTime() <= now.getTime()) return 'revoked';
  if (row.expires_at && row.expires_at.getTime() <= now.getTime()) return 'expired';
  return 'active';
}

function view(row: KeyRow, now = new Date()): ApiKeyView {
  return {
    id: row.id,
    merchantId: row.merchant_id,
    environment: row.environment,
    label: row.label,
    scopes: row.scopes,
    prefix: row.prefix,
    last4: row.last4,
    state: keyState(row, now),
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    rotatedAt: row.rotated_at,
    replacedBy: row.replaced_by,
  };
}

/**
 * Who manages keys. An operator (the command line) manages any key. An API key manages only keys of
 * its own environment, and only keys whose every scope it could grant itself (see `canGrant`): the
 * same rule for creating, rotating and revoking, so no key can obtain or switch off a stronger one.
 */
export type KeyManager =
  | { kind: 'operator' }
  | { kind: 'key'; environment: KeyEnvironment; scopes: readonly string[] };

export const OPERATOR: KeyManager = { kind: 'operator' };

export function keyManagerOf(auth: AuthContext): KeyManager {
  return { kind: 'key', environment: auth.environment, scopes: auth.scopes };
}

function missingScopes(granted: readonly string[], wanted: readonly string[]): string[] {
  return granted.includes('*') ? [] : wanted.filter((s) => s === '*' || !granted.includes(s));
}

/** FORBIDDEN unless `manager` may hand out (or take over) `scopes`. */
function assertMayGrant(manager: KeyManager, scopes: readonly string[], action: string): void {
  if (manager.kind === 'operator' || canGrant(manager.scopes, scopes)) return;
  throw new MalipoError(
    'FORBIDDEN',
    `A key can ${action} only keys whose scopes it holds itself; this key lacks ${missingScopes(manager.scopes, scopes).join(', ')}`,
  );
}

/** A key of another environment is "not found" to an API key, as another merchant's is. */
function assertSameEnvironment(manager: KeyManager, row: Pick<KeyRow, 'environment'>): void {
  if (manager.kind === 'key' && row.environment !== manager.environment) throw notFound('API key');
}

export interface CreateKeyInput {
  merchantId: string;
  environment: KeyEnvironment;
  scopes: Scope[];
  label?: string | undefined;
  expiresAt?: Date | null | undefined;
}

async function insertKey(db: Db, box: SecretBox, input: CreateKeyInput): Promise<IssuedKey> {
  const key = generateApiKey(input.environment);
  const webhookSecret = generateWebhookSecret();
  const scopes = [...new Set(input.scopes)];
  const row = await db
    .insertInto('api_keys')
    .values({
      id: newId('apiKey'),
      merchant_id: input.merchantId,
      environment: input.environment,
      label: input.label ?? `${input.environment} key`,
      scopes: JSON.stringify(scopes),
      key_hash: hashApiKey(key),
      prefix: key.slice(0, `mlp_${input.environment}_`.length + 4),
      last4: key.slice(-4),
      webhook_secret_enc: box.seal(webhookSecret),
      expires_at: input.expiresAt ?? null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { ...view(row), key, webhookSecret };
}

export async function createApiKey(
  db: Db,
  box: SecretBox,
  input: CreateKeyInput,
  by: Actor,
  as: KeyManager,
): Promise<IssuedKey> {
  if (as.kind === 'key' && input.environment !== as.environment) {
    throw new MalipoError('FORBIDDEN', `A ${as.environment} key can create only ${as.environment} keys`);
  }
  assertMayGrant(as, input.scopes, 'create');
  if (input.scopes.length === 0) {
    throw new MalipoError('VALIDATION_ERROR', 'A key needs at least one scope', {
      details: [{ path: 'scopes', message: 'at least one scope', code: 'too_small' }],
    });
  }
  return db.transaction().execute(async (trx) => {
    const merchant = await trx
      .selectFrom('merchants')
      .select('id')
      .where('id', '=', input.merchantId)
      .executeTakeFirst();
    if (!merchant) throw notFound('Merchant');
    const issued = await insertKey(trx, box, input);
    await appendAudit(trx, {
      ...by,
      action: 'key.create',
      targetId: issued.id,
      merchantId: input.merchantId,
      details: { environment: issued.environment, scopes: issued.scopes, label: issued.label },
    });
    return issued;
  });
}

/** Finds a key by id within a merchant; another merchant's key is "not found". */
async function keyRow(db: Db, merchantId: string, keyId: string): Promise<KeyRow> {
  const row = await db
    .selectFrom('api_keys')
    .selectAll()
    .where('id', '=', keyId)
    .where('merchant_id', '=', merchantId)
    .executeTakeFirst();
  if (!row) throw notFound('API key');
  return row;
}

export async function getApiKey(db: Db, merchantId: string, keyId: string): Promise<ApiKeyView> {
  return view(await keyRow(db, merchantId, keyId));
}

export async function listApiKeys(
  db: Db,
  merchantId: string,
  opts: { environment?: KeyEnvironment | undefined } = {},
): Promise<ApiKeyView[]> {
  let q = db.selectFrom('api_keys').selectAll().where('merchant_id', '=', merchantId);
  if (opts.environment) q = q.where('environment', '=', opts.environment);
  const rows = await q.orderBy('created_at', 'desc').orderBy('id').execute();
  const now = new Date();
  return rows.map((r) => view(r, now));
}

/** Revocation takes effect on the next request: the auth lookup reads revoked_at every time. */
export async function revokeApiKey(
  db: Db,
  merchantId: string,
  keyId: string,
  by: Actor,
  as: KeyManager,
): Promise<ApiKeyView> {
  return db.transaction().execute(async (trx) => {
    const row = await keyRow(trx, merchantId, keyId);
    assertSameEnvironment(as, row);
    assertMayGrant(as, row.scopes, 'revoke');
    if (row.revoked_at) return view(row);
    const updated = await trx
      .updateTable('api_keys')
      .set({ revoked_at: sql<Date>`now()` })
      .where('id', '=', keyId)
      .returningAll()
      .executeTakeFirstOrThrow();
    await appendAudit(trx, { ...by, action: 'key.revoke', targetId: keyId, merchantId });
    return view(updated);
  });
}

/**
 * Issues a replacement with the same merchant, environment, scopes and label. The old key is revoked now
 * (overlap 0, the default) or expires after `overlapSeconds`, whichever comes first with its own expiry.
 */
export async function rotateApiKey(
  db: Db,
  box: SecretBox,
  merchantId: string,
  keyId: string,
  opts: { overlapSeconds?: number | undefined },
  by: Actor,
  as: KeyManager,
): Promise<{ key: IssuedKey; previous: ApiKeyView }> {
  const overlap = opts.overlapSeconds ?? 0;
  if (!Number.isInteger(overlap) || overlap < 0 || overlap > MAX_ROTATION_OVERLAP_SECONDS) {
    throw new MalipoError('VALIDATION_ERROR', 'The overlap is out of range', {
      details: [
        {
          path: 'overlapSeconds',
          message: `0 to ${MAX_ROTATION_OVERLAP_SECONDS} seconds`,
          code: 'too_big',
        },
      ],
    });
  }
  return db.transaction().execute(async (trx) => {
    const old = await keyRow(trx, merchantId, keyId);
    assertSameEnvironment(as, old);
    assertMayGrant(as, old.scopes, 'rotate');
    if (keyState(old) !== 'active') {
      throw new MalipoError('CONFLICT', 'Only an active key can be rotated');
    }
    const issued = await insertKey(trx, box, {
      merchantId,
      environment: old.environment,
      scopes: old.scopes as Scope[],
      label: old.label,
      expiresAt: old.expires_at,
    });
    const overlapEnd = new Date(Date.now() + overlap * 1000);
    const previous = await trx
      .updateTable('api_keys')
      .set(
        overlap === 0
          ? { revoked_at: sql<Date>`now()`, rotated_at: sql<Date>`now()`, replaced_by: issued.id }
          : {
              expires_at: old.expires_at && old.expires_at < overlapEnd ? old.expires_at : overlapEnd,
              rotated_at: sql<Date>`now()`,
              replaced_by: issued.id,
            },
      )
      .where('id', '=', keyId)
      .returningAll()
      .executeTakeFirstOrThrow();
    await appendAudit(trx, {
      ...by,
      action: 'key.rotate',
      targetId: keyId,
      merchantId,
      details: { replacedBy: issued.id, overlapSeconds: overlap },
    });
    return { key: issued, previous: view(previous) };
  });
}

/** The authentication lookup: by hash, and only while the key is neither revoked nor expired. */
export async function findActiveKey(db: Db, presented: string): Promise<AuthContext | undefined> {
  if (!looksLikeApiKey(presented)) return undefined;
  const row = await db
    .selectFrom('api_keys')
    .select(['id', 'merchant_id', 'environment', 'scopes', 'revoked_at', 'expires_at', 'key_hash'])
    .where('key_hash', '=', hashApiKey(presented))
    .executeTakeFirst();
  if (!row || keyState(row) !== 'active') return undefined;
  return { merchantId: row.merchant_id, keyId: row.id, environment: row.environment, scopes: row.scopes };
}

/** The clear webhook signing secret of a key, for the webhook signer. */
export async function webhookSecretOf(db: Db, box: SecretBox, keyId: string): Promise<string> {
  const row = await db
    .selectFrom('api_keys')
    .select('webhook_secret_enc')
    .where('id', '=', keyId)
    .executeTakeFirst();
  if (!row) throw notFound('API key');
  return box.open(row.webhook_secret_enc);
}

/**
 * Records last-used times without a write per request: at most one UPDATE per key per `intervalMs` per
 * process, and the UPDATE itself is skipped by the database when another process wrote recently.
 */
export class LastUsedTracker {
  readonly #written = new Map<string, number>();
  constructor(
    private readonly db: Db,
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns the pending write (tests await it); callers in the request path ignore it. */
  touch(keyId: string): Promise<void> {
    const t = this.now();
    const last = this.#written.get(keyId);
    if (last !== undefined && t - last < this.intervalMs) return Promise.resolve();
    this.#written.set(keyId, t);
    if (this.#written.size > 10_000) this.#written.clear();
    const seconds = Math.floor(this.intervalMs / 1000);
    return this.db
      .updateTable('api_keys')
      .set({ last_used_at: sql<Date>`now()` })
      .where('id', '=', keyId)
      .where((eb) =>
        eb.or([
          eb('last_used_at', 'is', null),
          eb('last_used_at', '<', sql<Date>`now() - (${seconds}::int * interval '1 second')`),
        ]),
      )
      .execute()
      .then(
        () => undefined,
        () => {
          this.#written.delete(keyId);
        },
      );
  }
}
