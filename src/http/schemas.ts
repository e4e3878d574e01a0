/** Schemas shared by route files: ids in paths, timestamps, scopes, list envelopes. */
import { z } from 'zod';
import { type Cursor, decodeCursor } from '../db/paging';
import { SAFE_TEXT } from '../daraja/transformers';
import { MalipoError } from '../domain/errors';
import { SCOPES } from '../platform/scopes';

export const Timestamp = z.iso
  .datetime()
  .meta({ description: 'ISO 8601, UTC', example: '2025-01-31T09:30:00.000Z' });

export const ScopeSchema = z.enum(SCOPES).meta({ id: 'Scope', description: '`*` grants every scope.' });

/** `{ id }` path parameters with the resource's prefix. */
export function idParams(prefix: string, example: string) {
  return z.object({
    id: z
      .string()
      .regex(new RegExp(`^${prefix}_[0-9A-Za-z]{6,64}$`), `must look like ${prefix}_…`)
      .meta({ example }),
  });
}

export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ object: z.literal('list'), data: z.array(item) });
}

export function iso(d: Date): string;
export function iso(d: Date | null): string | null;
export function iso(d: Date | null): string | null {
  return d ? d.toISOString() : null;
}

/** A list route's `cursor` query parameter: one this API returned, or a 400. */
export function cursorParam(raw: string | undefined): Cursor | undefined {
  if (raw === undefined) return undefined;
  const cursor = decodeCursor(raw);
  if (!cursor) {
    throw new MalipoError('VALIDATION_ERROR', 'The query is invalid', {
      details: [{ path: 'cursor', message: 'is not a cursor this API returned', code: 'custom' }],
    });
  }
  return cursor;
}

/** A channel id in a request body; absent means the merchant's default channel. */
export const ChannelIdSchema = z
  .string()
  .regex(/^ch_[0-9A-Za-z]{6,64}$/, 'must look like ch_…')
  .meta({ description: 'Default: the merchant’s default channel for the key’s environment' });

/** Text Daraja shows or stores (AccountReference, TransactionDesc, RefNo): trimmed, 1..max safe characters. */
export function safeText(max: number, what: string) {
  return z
    .string()
    .transform((s) => s.trim())
    .pipe(
      z
        .string()
        .min(1, `${what} must not be empty`)
        .max(max, `${what} must be at most ${max} characters`)
        .regex(SAFE_TEXT, `${what} may contain only letters, digits, spaces, dot, dash and underscore`),
    );
}

/**
 * How deeply `value` nests objects and arrays: a scalar is 0, `{}` and `[]` are 1, `{"a":[1]}` is 2.
 * Counted with a loop, not recursion, and only until it passes `limit`, so a body of 10,000 nested
 * arrays is measured safely; JSON.stringify and recursive walks throw RangeError on such a value.
 */
export function jsonDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [v, depth] = top;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) {
      max = depth;
      if (max > limit) return max;
    }
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return max;
}

/** The earliest and latest instants a date filter accepts: every database and Date can hold them. */
export const DATE_FILTER_MIN = new Date('2000-01-01T00:00:00.000Z');
export const DATE_FILTER_MAX = new Date('2100-01-01T00:00:00.000Z');

const inRange = (d: Date) =>
  !Number.isNaN(d.getTime()) &&
  d.getTime() >= DATE_FILTER_MIN.getTime() &&
  d.getTime() <= DATE_FILTER_MAX.getTime();

/**
 * An ISO 8601 instant in a request body (an expiry, say), kept as the string: offset allowed, from
 * 2000-01-01 to 2100-01-01 UTC. `9999-12-31T23:59:59-23:59` is year 10000 in UTC, which the database
 * driver cannot write, and used to answer 500.
 */
export function boundedDateTime() {
  return z.iso
    .datetime({ offset: true })
    .refine((s) => inRange(new Date(s)), 'must be between 2000-01-01 and 2100-01-01 (UTC)');
}

/**
 * A date filter in a list query (`from`, `to`): an ISO 8601 instant (offset allowed) from 2000-01-01
 * to 2100-01-01 UTC, as a Date. Outside that range (year 0000, 275760, an offset that pushes 9999-12-31
 * into year 10000) PostgreSQL or PGlite refuse the value and the request used to answer 500.
 */
export function dateFilter(description: string) {
  return z.iso
    .datetime({ offset: true })
    .transform((s, ctx) => {
      const d = new Date(s);
      if (!inRange(d)) {
        ctx.addIssue({ code: 'custom', message: 'must be between 2000-01-01 and 2100-01-01 (UTC)' });
        return z.NEVER;
      }
      return d;
    })
    .meta({
      description: `${description}; ISO 8601, 2000-01-01 to 2100-01-01`,
      example: '2025-01-31T00:00:00Z',
    });
}

/**
 * `from` ≤ `to` when both are given; as an issue on `to`. zod runs this even when a field already
 * failed, with that field's raw string, so it checks that both are Dates.
 */
export function fromNotAfterTo(q: { from?: unknown; to?: unknown }, ctx: z.RefinementCtx): void {
  if (q.from instanceof Date && q.to instanceof Date && q.from.getTime() > q.to.getTime()) {
    ctx.addIssue({ code: 'custom', path: ['to'], message: 'must not be before `from`' });
  }
}
