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
