/**
 * Newest-first keyset paging, shared by every list: rows ordered by (created_at, id) descending, and
 * an opaque cursor naming the last row of a page, so a page never skips or repeats a row while new
 * rows arrive.
 */
import { type SelectQueryBuilder, sql } from 'kysely';

export interface Cursor {
  at: Date;
  id: string;
}

export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(`${at.toISOString()}|${id}`).toString('base64url');
}

const CURSOR_AT = /^(?!0000)\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const CURSOR_ID = /^[0-9A-Za-z_]{1,100}$/;

/**
 * Only what encodeCursor wrote: an ISO instant in years 0001-9999 that round-trips, and an id. Anything
 * else (an id with a NUL, a year PostgreSQL cannot hold) would reach the query and answer 500.
 */
export function decodeCursor(cursor: string): Cursor | undefined {
  const [iso, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!iso || !id || rest.length > 0 || !CURSOR_AT.test(iso) || !CURSOR_ID.test(id)) return undefined;
  const at = new Date(iso);
  if (Number.isNaN(at.getTime()) || at.toISOString() !== iso) return undefined;
  return { at, id };
}

/** One page of `q` (whose rows have `created_at` and `id`), after `cursor`, and the next page's cursor. */
export async function newestFirst<
  DB,
  TB extends keyof DB,
  O extends { created_at: Date | string; id: string },
>(
  q: SelectQueryBuilder<DB, TB, O>,
  page: { cursor?: Cursor | undefined; limit: number },
): Promise<{ rows: O[]; nextCursor: string | null }> {
  const rows = await pageQuery(q, page).execute();
  const shown = rows.slice(0, page.limit);
  const last = shown[shown.length - 1];
  return {
    rows: shown,
    nextCursor: rows.length > page.limit && last ? encodeCursor(new Date(last.created_at), last.id) : null,
  };
}

/** The statement newestFirst runs for one page: after the cursor, in list order, one row to look ahead. */
export function pageQuery<DB, TB extends keyof DB, O>(
  q: SelectQueryBuilder<DB, TB, O>,
  page: { cursor?: Cursor | undefined; limit: number },
): SelectQueryBuilder<DB, TB, O> {
  const after = page.cursor
    ? q.where(sql<boolean>`(created_at, id) < (${page.cursor.at}, ${page.cursor.id})`)
    : q;
  return after
    .orderBy(sql`created_at desc`)
    .orderBy(sql`id desc`)
    .limit(page.limit + 1);
}
