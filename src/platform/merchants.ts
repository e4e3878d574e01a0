/** Merchants (tenants): every other resource belongs to exactly one. */
import type { Db } from '../db';
import { notFound } from '../domain/errors';
import { newId } from '../domain/ids';
import { type Actor, appendAudit } from './audit';

export interface Merchant {
  id: string;
  name: string;
  createdAt: Date;
}

export async function createMerchant(db: Db, input: { name: string }, by: Actor): Promise<Merchant> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('merchants')
      .values({ id: newId('merchant'), name: input.name })
      .returningAll()
      .executeTakeFirstOrThrow();
    await appendAudit(trx, {
      ...by,
      action: 'merchant.create',
      targetId: row.id,
      merchantId: row.id,
      details: { name: row.name },
    });
    return { id: row.id, name: row.name, createdAt: row.created_at };
  });
}

export async function findMerchant(db: Db, id: string): Promise<Merchant | undefined> {
  const row = await db.selectFrom('merchants').selectAll().where('id', '=', id).executeTakeFirst();
  return row && { id: row.id, name: row.name, createdAt: row.created_at };
}

export async function getMerchant(db: Db, id: string): Promise<Merchant> {
  const m = await findMerchant(db, id);
  if (!m) throw notFound('Merchant');
  return m;
}

export async function listMerchants(db: Db): Promise<Merchant[]> {
  const rows = await db.selectFrom('merchants').selectAll().orderBy('created_at').execute();
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at }));
}
