/** Users and their memberships: sign-up (a merchant and its owner), credential checks, password changes. */
import { sql } from 'kysely';
import { z } from 'zod';
import type { Db } from '../db';
import { MalipoError } from '../domain/errors';
import { newId } from '../domain/ids';
import { createMerchant, type Merchant } from '../platform/merchants';
import { dummyHash, hashPassword, PasswordSchema, verifyPassword } from './passwords';
import type { Role } from './roles';

export const EmailSchema = z
  .string()
  .trim()
  .max(254, 'Use at most 254 characters')
  .pipe(z.email('Enter an email address such as ann@example.co.ke'))
  .transform((e) => e.toLowerCase());

export const SignUpSchema = z.object({
  email: EmailSchema,
  password: PasswordSchema,
  businessName: z
    .string()
    .trim()
    .min(1, 'Enter the name of the business')
    .max(200, 'Use at most 200 characters'),
});
export type SignUpInput = z.output<typeof SignUpSchema>;

export interface User {
  id: string;
  email: string;
}

export interface Membership {
  merchantId: string;
  merchantName: string;
  role: Role;
}

export async function findUserByEmail(
  db: Db,
  email: string,
): Promise<(User & { passwordHash: string | null }) | undefined> {
  const row = await db
    .selectFrom('users')
    .select(['id', 'email', 'password_hash'])
    .where(sql<string>`lower(email)`, '=', email.trim().toLowerCase())
    .executeTakeFirst();
  return row && { id: row.id, email: row.email, passwordHash: row.password_hash };
}

const TAKEN = 'An account with this email already exists; sign in instead';
const emailTaken = () =>
  new MalipoError('CONFLICT', TAKEN, { details: [{ path: 'email', message: TAKEN, code: 'taken' }] });

/** Inserts a user; a taken email (any case) → 409 CONFLICT. */
export async function insertUser(db: Db, email: string, passwordHash: string | null): Promise<User> {
  const row = await db
    .insertInto('users')
    .values({ id: newId('user'), email, password_hash: passwordHash, updated_at: new Date() })
    .onConflict((oc) => oc.expression(sql`lower(email)`).doNothing())
    .returning(['id', 'email'])
    .executeTakeFirst();
  if (!row) throw emailTaken();
  return row;
}

export async function addMembership(
  db: Db,
  m: { userId: string; merchantId: string; role: Role },
  by: string,
): Promise<void> {
  await db
    .insertInto('memberships')
    .values({ user_id: m.userId, merchant_id: m.merchantId, role: m.role, created_by: by })
    .onConflict((oc) => oc.columns(['user_id', 'merchant_id']).doUpdateSet({ role: m.role }))
    .execute();
}

/** A new merchant (through createMerchant, audited) and its owner. */
export async function signUp(db: Db, input: SignUpInput): Promise<{ user: User; merchant: Merchant }> {
  // the user row comes first, so a taken email (checked atomically by the unique index) leaves no orphan merchant
  if (await findUserByEmail(db, input.email)) throw emailTaken();
  const passwordHash = await hashPassword(input.password);
  const user = await insertUser(db, input.email, passwordHash);
  const merchant = await createMerchant(db, { name: input.businessName }, { actor: user.id });
  await addMembership(db, { userId: user.id, merchantId: merchant.id, role: 'owner' }, user.id);
  return { user, merchant };
}

/** The user whose email and password these are, or undefined; as slow for an unknown email as for a known one. */
export async function checkCredentials(db: Db, email: string, password: string): Promise<User | undefined> {
  const user = await findUserByEmail(db, email);
  if (!user?.passwordHash) {
    await verifyPassword(password, await dummyHash());
    return undefined;
  }
  const v = await verifyPassword(password, user.passwordHash);
  if (!v.ok) return undefined;
  if (v.needsRehash) await setPassword(db, user.id, password);
  return { id: user.id, email: user.email };
}

export async function setPassword(db: Db, userId: string, password: string): Promise<void> {
  const hash = await hashPassword(password);
  await db
    .updateTable('users')
    .set({ password_hash: hash, updated_at: new Date() })
    .where('id', '=', userId)
    .execute();
}

/** Checks the current password before setting the new one; a wrong one → 400 naming the field. */
export async function changePassword(db: Db, userId: string, current: string, next: string): Promise<void> {
  const row = await db
    .selectFrom('users')
    .select('password_hash')
    .where('id', '=', userId)
    .executeTakeFirst();
  const ok = row?.password_hash ? (await verifyPassword(current, row.password_hash)).ok : false;
  if (!ok) {
    throw new MalipoError('VALIDATION_ERROR', 'The current password is not right', {
      details: [
        { path: 'currentPassword', message: 'The current password is not right', code: 'wrong_password' },
      ],
    });
  }
  await setPassword(db, userId, next);
}

/** The user's merchants, oldest membership first (the one a sign-in opens). */
export async function membershipsOf(db: Db, userId: string): Promise<Membership[]> {
  const rows = await db
    .selectFrom('memberships')
    .innerJoin('merchants', 'merchants.id', 'memberships.merchant_id')
    .select(['memberships.merchant_id', 'merchants.name', 'memberships.role'])
    .where('memberships.user_id', '=', userId)
    .orderBy('memberships.created_at')
    .execute();
  return rows.map((r) => ({ merchantId: r.merchant_id, merchantName: r.name, role: r.role }));
}

/** The people of a merchant, for the team list. */
export async function membersOf(
  db: Db,
  merchantId: string,
): Promise<Array<User & { role: Role; hasPassword: boolean }>> {
  const rows = await db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .select(['users.id', 'users.email', 'users.password_hash', 'memberships.role'])
    .where('memberships.merchant_id', '=', merchantId)
    .orderBy('memberships.created_at')
    .execute();
  return rows.map((r) => ({ id: r.id, email: r.email, role: r.role, hasPassword: r.password_hash !== null }));
}
