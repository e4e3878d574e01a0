/**
 * Events: one row per change worth a webhook (`payment.success`, `payout.failed`, `payment.c2b` …),
 * written in the same transaction as the change. The body is fixed here: every delivery and
 * redelivery of the event sends these exact bytes.
 */
import type { Kysely } from 'kysely';
import { newId } from '../domain/ids';
import type { Database } from './schema';

export interface NewEvent {
  type: string;
  merchantId: string;
  environment: string;
  /** The payment or payout the event is about (`events.payment_id`). */
  subjectId: string;
  /** The subject's version the event belongs to: one event per (subject, version). */
  version: number;
  /** The API object as it is now: the event's `data`. */
  data: unknown;
  at?: Date;
}

/** Inserts the event and returns its id. Call it inside the transaction that made the change. */
export async function appendEvent(trx: Kysely<Database>, e: NewEvent): Promise<string> {
  const id = newId('event');
  const created = Math.floor((e.at ?? new Date()).getTime() / 1000);
  await trx
    .insertInto('events')
    .values({
      id,
      merchant_id: e.merchantId,
      environment: e.environment,
      type: e.type,
      payment_id: e.subjectId,
      payment_version: e.version,
      body: JSON.stringify({ id, type: e.type, created, data: e.data }),
    })
    .execute();
  return id;
}
