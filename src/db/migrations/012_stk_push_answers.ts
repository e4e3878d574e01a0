import { type Kysely, sql } from 'kysely';

/**
 * The answer Daraja gave a push (accepted with its CheckoutRequestID, or rejected), kept with the
 * push's mark. A local activity's result is durable only once its workflow task completes: when that
 * task is lost (timed out on a starved worker, the worker killed), the retried task runs the push
 * activity again, and the attempt that finds the mark answers what the first attempt learned instead
 * of `ambiguous`. The retry then takes the same decision, with the same versions, as the lost task.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table stk_pushes add column answer jsonb`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table stk_pushes drop column answer`.execute(db);
}
