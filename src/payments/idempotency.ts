/**
 * Idempotency-Key handling, shared by every creation route.
 *
 * A key is scoped to (merchant, environment, route scope). The first request inserts an
 * `in_flight` row that already names the resource it will create (the payment id, which is
 * also the workflow id), so even a request whose process died mid-way is finished by a retry
 * with the same id: the workflow start uses USE_EXISTING and Daraja is never asked twice.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { MalipoError } from '../domain/errors';
import type { Db } from '../db';

export interface IdempotencyScope {
  merchantId: string;
  environment: string;
  scope: string;
  key: string;
}

export type BeginResult =
  | { kind: 'new'; resourceId: string; takenOver: boolean }
  | { kind: 'replay'; status: number; body: unknown }
  | { kind: 'mismatch' }
  | { kind: 'in_use' };

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** 1–255 printable ASCII characters, no spaces. */
export function isValidIdempotencyKey(key: string): boolean {
  return KEY_PATTERN.test(key);
}

/** A stable hash of a JSON body: object keys sorted, so `{a,b}` and `{b,a}` are the same request. */
export function requestHash(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** How long a key is kept: twice the 24 hours replays are promised for. */
export const SWEEP_RETENTION_MS = 48 * 3_600_000;

export class IdempotencyStore {
  constructor(
    private readonly db: Db,
    /** How long an in-flight request holds its key before a retry may take over. */
    private readonly lockMs = 60_000,
  ) {}

  async begin(scope: IdempotencyScope, hash: string, proposedResourceId: string): Promise<BeginResult> {
    const lockedUntil = new Date(Date.now() + this.lockMs);
    const inserted = await this.db
      .insertInto('idempotency_keys')
      .values({
        merchant_id: scope.merchantId,
        environment: scope.environment,
        scope: scope.scope,
        key: scope.key,
        request_hash: hash,
        state: 'in_flight',
        resource_id: proposedResourceId,
        locked_until: lockedUntil,
      })
      .onConflict((oc) => oc.doNothing())
      .returning('resource_id')
      .executeTakeFirst();
    if (inserted) return { kind: 'new', resourceId: proposedResourceId, takenOver: false };

    const row = await this.where(
      this.db.selectFrom('idempotency_keys').selectAll(),
      scope,
    ).executeTakeFirst();
    if (!row) return this.begin(scope, hash, proposedResourceId); // swept between the two statements
    if (row.request_hash !== hash) return { kind: 'mismatch' };
    if (row.state === 'done') {
      return { kind: 'replay', status: row.response_status ?? 200, body: row.response_body };
    }
    // In flight: take over only when its holder's lock has lapsed (that process most likely died).
    const taken = await this.where(
      this.db
        .updateTable('idempotency_keys')
        .set({ locked_until: lockedUntil })
        .where('state', '=', 'in_flight')
        .where('locked_until', '<', sql<Date>`now()`),
      scope,
    )
      .returning('resource_id')
      .executeTakeFirst();
    if (taken) return { kind: 'new', resourceId: taken.resource_id ?? proposedResourceId, takenOver: true };
    return { kind: 'in_use' };
  }

  /**
   * `begin` as the creation routes use it: a replay or the resource id to create, and the API's
   * errors for a key used with another body (422) or still in flight (409).
   */
  async claim(
    scope: IdempotencyScope,
    hash: string,
    proposedResourceId: string,
  ): Promise<{ kind: 'replay'; status: number; body: unknown } | { kind: 'new'; resourceId: string }> {
    const begun = await this.begin(scope, hash, proposedResourceId);
    switch (begun.kind) {
      case 'replay':
        return begun;
      case 'new':
        return { kind: 'new', resourceId: begun.resourceId };
      case 'mismatch':
        throw new MalipoError(
          'IDEMPOTENCY_KEY_MISMATCH',
          'This Idempotency-Key was used with a different request body',
        );
      case 'in_use':
        throw new MalipoError(
          'IDEMPOTENCY_KEY_IN_USE',
          'A request with this Idempotency-Key is still being processed; retry shortly',
          { headers: { 'Retry-After': '1' } },
        );
    }
  }

  /** Stores the answer that later retries replay. */
  async complete(scope: IdempotencyScope, status: number, body: unknown): Promise<void> {
    await this.where(
      this.db
        .updateTable('idempotency_keys')
        .set({ state: 'done', response_status: status, response_body: JSON.stringify(body) }),
      scope,
    ).execute();
  }

  /** Forgets a key whose request created nothing (it failed before any side effect), so a retry starts afresh. */
  async release(scope: IdempotencyScope): Promise<void> {
    await this.where(
      this.db.deleteFrom('idempotency_keys').where('state', '=', 'in_flight'),
      scope,
    ).execute();
  }

  /**
   * Deletes at most `limit` expired keys in one statement and returns how many: keys older than
   * `olderThanMs` (at least 24 hours is promised) that are done, or still in flight with a lapsed lock
   * (their request died long ago). workflows/idempotency-sweep.ts calls it batch by batch.
   */
  async sweep(opts: { olderThanMs?: number; limit?: number } = {}): Promise<number> {
    const cutoff = new Date(Date.now() - (opts.olderThanMs ?? SWEEP_RETENTION_MS));
    const expired = this.db
      .selectFrom('idempotency_keys')
      .select(['merchant_id', 'environment', 'scope', 'key'])
      .where('created_at', '<', cutoff)
      .where((eb) => eb.or([eb('state', '=', 'done'), eb('locked_until', '<', sql<Date>`now()`)]))
      .limit(opts.limit ?? 500);
    const res = await this.db
      .deleteFrom('idempotency_keys')
      .where(sql<boolean>`(merchant_id, environment, scope, key) in (${expired})`)
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  // biome-ignore lint/suspicious/noExplicitAny: shared WHERE for select/update/delete builders
  private where<Q extends { where: (...a: any[]) => any }>(q: Q, s: IdempotencyScope): Q {
    return q
      .where('merchant_id', '=', s.merchantId)
      .where('environment', '=', s.environment)
      .where('scope', '=', s.scope)
      .where('key', '=', s.key);
  }
}
