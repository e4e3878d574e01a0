/** Schemas shared by route files: ids in paths, timestamps, scopes, list envelopes. */
import { z } from 'zod';
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
