/**
 * Changing a merchant's team: a member's role, or the member's removal. A merchant always keeps one
 * owner: both refuse (409 CONFLICT) to demote or remove its last one. The check and the change run in
 * one transaction that locks the merchant's memberships, so two owners demoting each other at once
 * cannot both succeed. Sessions read the role from the membership, so a change applies at the next
 * request, and a removed member's sessions stop working at once.
 */
import type { Db } from '../db';
import { MalipoError, notFound } from '../domain/errors';
import { type Actor, appendAudit } from '../platform/audit';
import type { Role } from './roles';

const lastOwner = () =>
  new MalipoError('CONFLICT', 'A business needs at least one owner: make someone else an owner first', {
    details: [{ path: 'role', message: 'the last owner must stay an owner', code: 'last_owner' }],
  });

async function change(
  db: Db,
  merchantId: string,
  userId: string,
  next: Role | null,
  by: Actor,
): Promise<{ email: string; was: Role }> {
  return db.transaction().execute(async (trx) => {
    const members = await trx
      .selectFrom('memberships')
      .select(['user_id', 'role'])
      .where('merchant_id', '=', merchantId)
      .forUpdate()
      .execute();
    const target = members.find((m) => m.user_id === userId);
    if (!target) throw notFound('Team member');
    const owners = members.filter((m) => m.role === 'owner').length;
    if (target.role === 'owner' && next !== 'owner' && owners <= 1) throw lastOwner();
    if (next === null) {
      await trx
        .deleteFrom('memberships')
        .where('merchant_id', '=', merchantId)
        .where('user_id', '=', userId)
        .execute();
    } else {
      await trx
        .updateTable('memberships')
        .set({ role: next })
        .where('merchant_id', '=', merchantId)
        .where('user_id', '=', userId)
        .execute();
    }
    await appendAudit(trx, {
      ...by,
      merchantId,
      action: next === null ? 'member.remove' : 'member.role',
      targetId: userId,
      details: { from: target.role, ...(next === null ? {} : { to: next }) },
    });
    const user = await trx
      .selectFrom('users')
      .select('email')
      .where('id', '=', userId)
      .executeTakeFirstOrThrow();
    return { email: user.email, was: target.role };
  });
}

/** Gives a member another role; the last owner stays an owner. */
export function setMemberRole(db: Db, merchantId: string, userId: string, role: Role, by: Actor) {
  return change(db, merchantId, userId, role, by);
}

/** Removes a member from the merchant (the user and their other memberships stay); never the last owner. */
export function removeMember(db: Db, merchantId: string, userId: string, by: Actor) {
  return change(db, merchantId, userId, null, by);
}
