/**
 * Slots: each pay-form submission that may start a payment takes one row, inside a transaction that
 * holds the link's row lock (`select … for update`), so concurrent submissions of one link are decided
 * one after another on PostgreSQL (PGlite runs one transaction at a time). A slot is held while its
 * payment is being started (at most STARTING_HOLD_MS without one) and while that payment is not
 * `failed`: a failed or cancelled payment gives its place back, a success keeps it. Payments that
 * reached the link otherwise (C2B) hold a place too while not failed, and so does a pay-page payment
 * whose slot never learnt its id (the process stopped in between) once that slot's hold has lapsed.
 */
import { sql } from 'kysely';
import type { Db } from '../db';
import { notFound } from '../domain/errors';

/** How long a slot whose payment is still being started counts as held without a payment. */
export const STARTING_HOLD_SECONDS = 120;

export type Reservation =
  /** A new slot: start the payment, then attach it. */
  | { kind: 'reserved' }
  /** This token's payment, or the phone's open prompt on this link: show it, push nothing. */
  | { kind: 'existing'; paymentId: string }
  /** This token's or the phone's payment is being started right now: ask again shortly. */
  | { kind: 'starting' }
  /** The token was spent on a payment for another phone or amount. */
  | { kind: 'mismatch' }
  /** Every place of `maxPayments` is held. */
  | { kind: 'full' };

export class LinkSlots {
  constructor(private readonly db: Db) {}

  async reserve(linkId: string, nonce: string, phone: string, amount: number): Promise<Reservation> {
    return this.db.transaction().execute(async (trx) => {
      const link = await trx
        .selectFrom('payment_links')
        .select(['id', 'max_payments'])
        .where('id', '=', linkId)
        .forUpdate()
        .executeTakeFirst();
      if (!link) throw notFound('Payment link');
      const fresh = sql<boolean>`s.created_at > now() - make_interval(secs => ${STARTING_HOLD_SECONDS})`;

      const mine = await trx
        .selectFrom('payment_link_slots as s')
        .select(['s.phone', 's.amount', 's.payment_id', fresh.as('fresh')])
        .where('s.link_id', '=', linkId)
        .where('s.form_nonce', '=', nonce)
        .executeTakeFirst();
      if (mine) {
        if (mine.phone !== phone || mine.amount !== amount) return { kind: 'mismatch' };
        if (mine.payment_id) return { kind: 'existing', paymentId: mine.payment_id };
        if (mine.fresh) return { kind: 'starting' };
        // a start that never got its payment (the process stopped): this submission takes it over
        await trx
          .deleteFrom('payment_link_slots')
          .where('link_id', '=', linkId)
          .where('form_nonce', '=', nonce)
          .execute();
      }

      const open = await trx
        .selectFrom('payment_link_slots as s')
        .leftJoin('payments as p', 'p.id', 's.payment_id')
        .select(['s.payment_id'])
        .where('s.link_id', '=', linkId)
        .where('s.phone', '=', phone)
        .where((eb) =>
          eb.or([eb.and([eb('s.payment_id', 'is', null), fresh]), eb('p.status', '=', 'pending')]),
        )
        .orderBy('s.created_at', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (open)
        return open.payment_id ? { kind: 'existing', paymentId: open.payment_id } : { kind: 'starting' };

      if (link.max_payments !== null) {
        const held = await sql<{ n: number | string }>`
          select
            (select count(*) from payment_link_slots s left join payments p on p.id = s.payment_id
              where s.link_id = ${linkId}
                and ((s.payment_id is null and ${fresh}) or p.status <> 'failed'))
          + (select count(*) from payments p
              where p.link_id = ${linkId} and p.status <> 'failed'
                and (p.api_key_id is distinct from ${linkId}
                  or (p.created_at < now() - make_interval(secs => ${STARTING_HOLD_SECONDS - 10})
                    and not exists (select 1 from payment_link_slots s where s.payment_id = p.id))))
          as n`.execute(trx);
        if (Number(held.rows[0]?.n ?? 0) >= link.max_payments) return { kind: 'full' };
      }

      await trx
        .insertInto('payment_link_slots')
        .values({ link_id: linkId, form_nonce: nonce, phone, amount })
        .execute();
      return { kind: 'reserved' };
    });
  }

  /** The slot's payment has been started. */
  async attach(linkId: string, nonce: string, paymentId: string): Promise<void> {
    await this.db
      .updateTable('payment_link_slots')
      .set({ payment_id: paymentId })
      .where('link_id', '=', linkId)
      .where('form_nonce', '=', nonce)
      .execute();
  }

  /** Gives back a slot whose payment was not started (refused by a limit, or creation failed). */
  async release(linkId: string, nonce: string): Promise<void> {
    await this.db
      .deleteFrom('payment_link_slots')
      .where('link_id', '=', linkId)
      .where('form_nonce', '=', nonce)
      .where('payment_id', 'is', null)
      .execute();
  }
}
