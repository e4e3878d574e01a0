/**
 * One-time account tokens in links: invites (an operator adds a person to a merchant with a role; 7 days)
 * and sign-in links (the dev banner's; 15 minutes). Stored as SHA-256 only; each works once.
 */
import type { Db } from '../db';
import type { Role } from './roles';
import { newToken, sha256 } from './sessions';

export const INVITE_TTL_MS = 7 * 24 * 3600_000;
export const SIGN_IN_LINK_TTL_MS = 15 * 60_000;

export type TokenKind = 'invite' | 'sign_in';

export interface AccountToken {
  kind: TokenKind;
  merchantId: string;
  email: string | null;
  role: Role | null;
  userId: string | null;
  expiresAt: Date;
}

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** Stores a new one-time token of `kind` (only its hash) valid for `ttlMs`, and returns it once. */
async function issueToken(
  db: Db,
  fields: { kind: TokenKind; merchantId: string; email?: string; role?: Role; userId?: string },
  ttlMs: number,
  by: string,
  now: Date,
): Promise<{ token: string; expiresAt: Date }> {
  const token = newToken();
  const expiresAt = new Date(now.getTime() + ttlMs);
  await db
    .insertInto('account_tokens')
    .values({
      token_hash: sha256(token),
      kind: fields.kind,
      merchant_id: fields.merchantId,
      ...(fields.email !== undefined ? { email: fields.email } : {}),
      ...(fields.role !== undefined ? { role: fields.role } : {}),
      ...(fields.userId !== undefined ? { user_id: fields.userId } : {}),
      created_by: by,
      created_at: now,
      expires_at: expiresAt,
    })
    .execute();
  return { token, expiresAt };
}

export function createInvite(
  db: Db,
  i: { merchantId: string; email: string; role: Role },
  by: string,
  now = new Date(),
): Promise<{ token: string; expiresAt: Date }> {
  return issueToken(db, { kind: 'invite', ...i }, INVITE_TTL_MS, by, now);
}

export function createSignInLink(
  db: Db,
  s: { userId: string; merchantId: string },
  by: string,
  now = new Date(),
): Promise<{ token: string; expiresAt: Date }> {
  return issueToken(db, { kind: 'sign_in', ...s }, SIGN_IN_LINK_TTL_MS, by, now);
}

const view = (r: {
  kind: TokenKind;
  merchant_id: string;
  email: string | null;
  role: Role | null;
  user_id: string | null;
  expires_at: Date;
}): AccountToken => ({
  kind: r.kind,
  merchantId: r.merchant_id,
  email: r.email,
  role: r.role,
  userId: r.user_id,
  expiresAt: new Date(r.expires_at),
});

/** The unused, unexpired token of this kind, without using it up. */
export async function peekToken(
  db: Db,
  token: string,
  kind: TokenKind,
  now: Date,
): Promise<AccountToken | undefined> {
  if (!TOKEN.test(token)) return undefined;
  const r = await db
    .selectFrom('account_tokens')
    .selectAll()
    .where('token_hash', '=', sha256(token))
    .where('kind', '=', kind)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return r && view(r);
}

/** Uses the token up, atomically: of two concurrent uses, one gets it and the other undefined. */
export async function consumeToken(
  db: Db,
  token: string,
  kind: TokenKind,
  now: Date,
): Promise<AccountToken | undefined> {
  if (!TOKEN.test(token)) return undefined;
  const r = await db
    .updateTable('account_tokens')
    .set({ used_at: now })
    .where('token_hash', '=', sha256(token))
    .where('kind', '=', kind)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returningAll()
    .executeTakeFirst();
  return r && view(r);
}
