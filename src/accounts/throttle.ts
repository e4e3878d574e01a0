/**
 * Sign-in throttling, in the database so it holds across API processes (PGlite and PostgreSQL alike).
 * Failures are counted per email and per client IP. The first 5 are free; from the 5th on, the next
 * attempt must wait 1 s, 2 s, 4 s, 8 s, 16 s after the last failure (refused, unchecked, before then);
 * the 10th locks the bucket for 15 minutes. A bucket forgets its failures 15 minutes after the last one;
 * a successful sign-in clears the email's bucket (not the IP's, which an attacker's own account could reset).
 * Unknown emails are counted like known ones, so throttling tells nothing about which emails exist.
 */
import { sql } from 'kysely';
import type { Db } from '../db';

export const FREE_FAILURES = 5;
export const LOCK_AFTER_FAILURES = 10;
export const LOCK_MS = 15 * 60_000;
export const FORGET_AFTER_MS = 15 * 60_000;
const MAX_DELAY_MS = 60_000;

export function loginBuckets(email: string, ip: string): string[] {
  return [`email:${email.trim().toLowerCase().slice(0, 254)}`, `ip:${ip}`];
}

/** How long after the last failure the next attempt must wait, given the failure count. */
export function delayAfter(failures: number): number {
  if (failures < FREE_FAILURES) return 0;
  return Math.min(1000 * 2 ** (failures - FREE_FAILURES), MAX_DELAY_MS);
}

/** 0 when an attempt may be checked now, else the milliseconds to wait (the longest over the buckets). */
export async function throttleWait(db: Db, buckets: string[], now: Date): Promise<number> {
  const rows = await db.selectFrom('login_failures').selectAll().where('bucket', 'in', buckets).execute();
  const t = now.getTime();
  let wait = 0;
  for (const r of rows) {
    const locked = r.locked_until ? new Date(r.locked_until).getTime() : 0;
    if (locked > t) {
      wait = Math.max(wait, locked - t);
      continue;
    }
    const last = new Date(r.last_failure_at).getTime();
    if (t - last >= FORGET_AFTER_MS) continue;
    wait = Math.max(wait, last + delayAfter(r.failures) - t);
  }
  return Math.max(0, wait);
}

/** Counts one failure in each bucket, atomically (concurrent failures never lose a count). */
export async function recordFailure(db: Db, buckets: string[], now: Date): Promise<void> {
  const forgetBefore = new Date(now.getTime() - FORGET_AFTER_MS);
  const lockUntil = new Date(now.getTime() + LOCK_MS);
  for (const bucket of buckets) {
    await sql`
      insert into login_failures as f (bucket, failures, last_failure_at, locked_until)
      values (${bucket}, 1, ${now}, null)
      on conflict (bucket) do update set
        failures = case
          when f.last_failure_at < ${forgetBefore} and (f.locked_until is null or f.locked_until <= ${now}) then 1
          else f.failures + 1 end,
        last_failure_at = ${now},
        locked_until = case
          when f.last_failure_at >= ${forgetBefore} and f.failures + 1 >= ${LOCK_AFTER_FAILURES} then ${lockUntil}::timestamptz
          else f.locked_until end`.execute(db);
  }
}

export async function clearFailures(db: Db, bucket: string): Promise<void> {
  await db.deleteFrom('login_failures').where('bucket', '=', bucket).execute();
}
