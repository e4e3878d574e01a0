/**
 * Webhook storage: endpoints (with sealed, rotating signing secrets), events as the API lists them,
 * deliveries (one per event × target × sequence, each driven by one workflow) and their attempts.
 * The HTTP routes and the delivery activities both work through this class.
 */
import type { QueryCreator, Selectable } from 'kysely';
import { sql } from 'kysely';
import type { Db } from '../db';
import type { Database } from '../db/schema';
import type { EventsTable } from '../db/tables/payments';
import type {
  DeliveryStatus,
  DeliveryTargetKind,
  StoredSecret,
  WebhookAttemptsTable,
  WebhookDeliveriesTable,
  WebhookEndpointsTable,
} from '../db/tables/webhooks';
import { MalipoError, notFound, validationError } from '../domain/errors';
import { newId } from '../domain/ids';
import { generateWebhookSecret } from './signing';
import { assertWebhookUrlAllowed, type Resolver, type WebhookMode } from './ssrf';

/** The event types an endpoint can subscribe to (payouts add theirs later); `*` means all. */
export const WEBHOOK_EVENT_TYPES = [
  'payment.success',
  'payment.failed',
  'payment.needs_review',
  'payment.c2b',
  'payout.success',
  'payout.failed',
  'payout.needs_review',
  'payout.suspicious_result',
  'payment.reversed',
  'reversal.failed',
  'reversal.needs_review',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** How long a rotated-out secret keeps signing. */
export const SECRET_ROTATION_OVERLAP_SECONDS = 24 * 60 * 60;
/** An endpoint whose attempts have all failed for this long is disabled. */
export const DISABLE_AFTER_FAILING_MS = 5 * 24 * 60 * 60 * 1000;

/** What seals secrets at rest; `SecretBox` from src/platform/secret-box.ts fits. */
export interface SecretSealer {
  seal(plain: string): string;
  open(sealed: string): string;
}

/** The merchant and key environment (`test` | `live`) a request acts for. */
export interface Owner {
  merchantId: string;
  environment: string;
}

export interface WebhookRepositoryOptions {
  mode: WebhookMode;
  resolve?: Resolver;
  now?: () => Date;
}

export interface EndpointView {
  id: string;
  object: 'webhook_endpoint';
  environment: string;
  url: string;
  events: string[];
  description: string;
  enabled: boolean;
  disabledReason: string | null;
  disabledAt: string | null;
  /** While a rotation overlaps: when the previous secret stops signing. */
  previousSecretExpiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Returned by create and rotate: the only time the secret is shown. */
export interface EndpointWithSecret {
  endpoint: EndpointView;
  secret: string;
}

export interface EventView {
  id: string;
  object: 'event';
  type: string;
  /** Unix seconds. */
  created: number;
  paymentId: string;
  environment: string;
  /** The payment object as it was when the event was created. */
  data: unknown;
}

export interface AttemptView {
  attempt: number;
  attemptedAt: string;
  url: string;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  responseSnippet: string;
}

export interface DeliveryView {
  id: string;
  object: 'webhook_delivery';
  eventId: string;
  target: { kind: DeliveryTargetKind; id: string; url: string };
  /** 0 for the automatic delivery, 1… for redeliveries. */
  sequence: number;
  workflowId: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  failureReason: string | null;
  createdAt: string;
  updatedAt: string;
  attemptLog?: AttemptView[];
}

/** What starting a delivery workflow needs. */
export interface DeliveryRef {
  deliveryId: string;
  eventId: string;
  workflowId: string;
}

/** Everything one attempt needs, loaded fresh for each attempt (secrets never enter workflow history). */
export type AttemptContext =
  | {
      kind: 'send';
      deliveryId: string;
      eventId: string;
      eventType: string;
      body: string;
      url: string;
      secrets: string[];
      targetKind: DeliveryTargetKind;
      targetId: string;
    }
  | { kind: 'skip'; deliveryId: string; reason: string };

export interface AttemptRecord {
  attempt: number;
  at: Date;
  url: string;
  ok: boolean;
  statusCode: number | null;
  latencyMs: number;
  error?: string | undefined;
  responseSnippet: string;
}

export interface ListOptions {
  limit?: number;
  /** An id from the previous page; the list continues after it. */
  startingAfter?: string;
}

type EndpointRow = Selectable<WebhookEndpointsTable>;
/** What choosing an event's targets reads of the event. */
export type EventHead = Pick<
  Selectable<EventsTable>,
  'id' | 'type' | 'merchant_id' | 'environment' | 'payment_id'
>;
/** The event's subject as far as its callback URL goes: the URL and the API key that signs it. */
export interface TargetSource {
  callback_url: string | null;
  api_key_id: string | null;
}
type DeliveryRow = Selectable<WebhookDeliveriesTable>;

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());
const parseJson = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));

/** `whk:<eventId>:<target>` for the automatic delivery, `…:r<n>` for redelivery n. */
export function deliveryWorkflowId(eventId: string, targetKey: string, sequence: number): string {
  return `whk:${eventId}:${targetKey}${sequence === 0 ? '' : `:r${sequence}`}`;
}

/** A new delivery row of `event` to target `t`. */
function deliveryRow(
  event: Pick<EventHead, 'id' | 'merchant_id'>,
  t: { kind: DeliveryTargetKind; id: string; url: string; key: string },
  sequence: number,
  now: Date,
) {
  return {
    id: newId('delivery'),
    event_id: event.id,
    merchant_id: event.merchant_id,
    target_kind: t.kind,
    target_id: t.id,
    target_url: t.url,
    sequence,
    workflow_id: deliveryWorkflowId(event.id, t.key, sequence),
    next_attempt_at: now,
    created_at: now,
    updated_at: now,
  };
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined) return 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    throw validationError([{ path: 'limit', message: '1 to 100', code: 'too_big' }]);
  }
  return limit;
}

function checkEvents(events: unknown): string[] {
  if (!Array.isArray(events) || events.length === 0) {
    throw validationError([
      { path: 'events', message: 'list at least one event type, or "*"', code: 'too_small' },
    ]);
  }
  const known: readonly string[] = WEBHOOK_EVENT_TYPES;
  events.forEach((e, i) => {
    if (typeof e !== 'string' || (e !== '*' && !known.includes(e))) {
      throw validationError([
        { path: `events.${i}`, message: `one of ${['*', ...known].join(', ')}`, code: 'invalid_value' },
      ]);
    }
  });
  return [...new Set(events as string[])];
}

function checkDescription(d: unknown): string {
  if (d === undefined || d === null) return '';
  if (typeof d !== 'string' || d.length > 500) {
    throw validationError([
      { path: 'description', message: 'a string of at most 500 characters', code: 'too_big' },
    ]);
  }
  return d;
}

export class WebhookRepository {
  readonly #now: () => Date;

  constructor(
    private readonly db: Db,
    private readonly box: SecretSealer,
    private readonly opts: WebhookRepositoryOptions,
  ) {
    this.#now = opts.now ?? (() => new Date());
  }

  // ---- endpoints -------------------------------------------------------------------------------

  async #checkUrl(url: unknown): Promise<string> {
    if (typeof url !== 'string' || url.length > 2048) {
      throw validationError([
        { path: 'url', message: 'a URL of at most 2048 characters', code: 'invalid_type' },
      ]);
    }
    const checked = await assertWebhookUrlAllowed(url, {
      mode: this.opts.mode,
      ...(this.opts.resolve ? { resolve: this.opts.resolve } : {}),
    });
    return checked.toString();
  }

  /**
   * The SSRF guard at save time, for URLs stored elsewhere (a payment's `callbackUrl`): the URL as
   * normalised, or VALIDATION_ERROR with the reason.
   */
  assertUrlAllowed(url: unknown): Promise<string> {
    return this.#checkUrl(url);
  }

  #view(row: EndpointRow): EndpointView {
    const secrets = parseJson<StoredSecret[]>(row.secrets);
    const now = this.#now().getTime();
    const overlapping = secrets
      .map((s) => s.expiresAt)
      .filter((e): e is string => e !== null && Date.parse(e) > now)
      .sort();
    return {
      id: row.id,
      object: 'webhook_endpoint',
      environment: row.environment,
      url: row.url,
      events: parseJson<string[]>(row.events),
      description: row.description,
      enabled: row.enabled,
      disabledReason: row.disabled_reason,
      disabledAt: iso(row.disabled_at),
      previousSecretExpiresAt: overlapping.at(-1) ?? null,
      createdAt: iso(row.created_at)!,
      updatedAt: iso(row.updated_at)!,
    };
  }

  async #row(owner: Owner, id: string): Promise<EndpointRow> {
    const row = await this.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', id)
      .where('merchant_id', '=', owner.merchantId)
      .where('environment', '=', owner.environment)
      .executeTakeFirst();
    if (!row) throw notFound('Webhook endpoint');
    return row;
  }

  /** Registers an endpoint; the returned `secret` (`whsec_…`) is never shown again. */
  async createEndpoint(
    owner: Owner,
    input: { url: string; events: string[]; description?: string | undefined },
  ): Promise<EndpointWithSecret> {
    const url = await this.#checkUrl(input.url);
    const events = checkEvents(input.events);
    const description = checkDescription(input.description);
    const secret = generateWebhookSecret();
    const now = this.#now();
    const stored: StoredSecret[] = [
      { sealed: this.box.seal(secret), createdAt: now.toISOString(), expiresAt: null },
    ];
    const row = await this.db
      .insertInto('webhook_endpoints')
      .values({
        id: newId('webhookEndpoint'),
        merchant_id: owner.merchantId,
        environment: owner.environment,
        url,
        events: JSON.stringify(events),
        description,
        secrets: JSON.stringify(stored),
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { endpoint: this.#view(row), secret };
  }

  async listEndpoints(owner: Owner, opts: ListOptions = {}): Promise<EndpointView[]> {
    const limit = clampLimit(opts.limit);
    let q = this.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('merchant_id', '=', owner.merchantId)
      .where('environment', '=', owner.environment);
    if (opts.startingAfter) {
      const cursor = await this.#row(owner, opts.startingAfter);
      q = q.where((eb) =>
        eb.or([
          eb('created_at', '<', cursor.created_at),
          eb.and([eb('created_at', '=', cursor.created_at), eb('id', '<', cursor.id)]),
        ]),
      );
    }
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map((r) => this.#view(r));
  }

  async getEndpoint(owner: Owner, id: string): Promise<EndpointView> {
    return this.#view(await this.#row(owner, id));
  }

  /** Changes url, events, description and/or enabled; a new URL passes the SSRF guard first. */
  async updateEndpoint(
    owner: Owner,
    id: string,
    patch: { url?: string; events?: string[]; description?: string; enabled?: boolean },
  ): Promise<EndpointView> {
    const current = await this.#row(owner, id);
    const set: Record<string, unknown> = { updated_at: this.#now() };
    if (patch.url !== undefined) set.url = await this.#checkUrl(patch.url);
    if (patch.events !== undefined) set.events = JSON.stringify(checkEvents(patch.events));
    if (patch.description !== undefined) set.description = checkDescription(patch.description);
    if (patch.enabled === true && !current.enabled) {
      Object.assign(set, { enabled: true, disabled_reason: null, disabled_at: null, failing_since: null });
    } else if (patch.enabled === false && current.enabled) {
      Object.assign(set, {
        enabled: false,
        disabled_reason: 'disabled by the merchant',
        disabled_at: this.#now(),
      });
    }
    const row = await this.db
      .updateTable('webhook_endpoints')
      .set(set)
      .where('id', '=', current.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return this.#view(row);
  }

  enableEndpoint(owner: Owner, id: string): Promise<EndpointView> {
    return this.updateEndpoint(owner, id, { enabled: true });
  }

  disableEndpoint(owner: Owner, id: string): Promise<EndpointView> {
    return this.updateEndpoint(owner, id, { enabled: false });
  }

  /** Deletes the endpoint; its pending deliveries stop at their next attempt. */
  async deleteEndpoint(owner: Owner, id: string): Promise<void> {
    const row = await this.#row(owner, id);
    await this.db.deleteFrom('webhook_endpoints').where('id', '=', row.id).execute();
  }

  /**
   * A new signing secret, returned once. The secrets in use until now keep signing for
   * `overlapSeconds` (24 h by default), so receivers can switch without losing a delivery.
   */
  async rotateSecret(
    owner: Owner,
    id: string,
    opts: { overlapSeconds?: number } = {},
  ): Promise<EndpointWithSecret> {
    const overlap = opts.overlapSeconds ?? SECRET_ROTATION_OVERLAP_SECONDS;
    if (!Number.isInteger(overlap) || overlap < 0 || overlap > 7 * 24 * 3600) {
      throw validationError([{ path: 'overlapSeconds', message: '0 to 604800 seconds', code: 'too_big' }]);
    }
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('id', '=', id)
        .where('merchant_id', '=', owner.merchantId)
        .where('environment', '=', owner.environment)
        .forUpdate()
        .executeTakeFirst();
      if (!row) throw notFound('Webhook endpoint');
      const now = this.#now();
      const until = new Date(now.getTime() + overlap * 1000).toISOString();
      const kept = parseJson<StoredSecret[]>(row.secrets)
        .map((s) => (s.expiresAt === null || s.expiresAt > until ? { ...s, expiresAt: until } : s))
        .filter((s) => Date.parse(s.expiresAt!) > now.getTime());
      const secret = generateWebhookSecret();
      const secrets: StoredSecret[] = [
        { sealed: this.box.seal(secret), createdAt: now.toISOString(), expiresAt: null },
        ...kept,
      ];
      const updated = await trx
        .updateTable('webhook_endpoints')
        .set({ secrets: JSON.stringify(secrets), updated_at: now })
        .where('id', '=', row.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      return { endpoint: this.#view(updated), secret };
    });
  }

  /** The secrets that sign now, newest first. */
  activeSecrets(row: Pick<EndpointRow, 'secrets'>, at: Date = this.#now()): string[] {
    return parseJson<StoredSecret[]>(row.secrets)
      .filter((s) => s.expiresAt === null || Date.parse(s.expiresAt) > at.getTime())
      .map((s) => this.box.open(s.sealed));
  }

  // ---- events ----------------------------------------------------------------------------------

  #eventView(row: Selectable<EventsTable>): EventView {
    const body = JSON.parse(row.body) as { created?: number; data?: unknown };
    return {
      id: row.id,
      object: 'event',
      type: row.type,
      created: body.created ?? Math.floor(new Date(row.created_at).getTime() / 1000),
      paymentId: row.payment_id,
      environment: row.environment,
      data: body.data,
    };
  }

  async #eventRow(owner: Owner, id: string): Promise<Selectable<EventsTable>> {
    const row = await this.db
      .selectFrom('events')
      .selectAll()
      .where('id', '=', id)
      .where('merchant_id', '=', owner.merchantId)
      .where('environment', '=', owner.environment)
      .executeTakeFirst();
    if (!row) throw notFound('Event');
    return row;
  }

  async listEvents(
    owner: Owner,
    opts: ListOptions & { type?: string; paymentId?: string } = {},
  ): Promise<EventView[]> {
    const limit = clampLimit(opts.limit);
    let q = this.db
      .selectFrom('events')
      .selectAll()
      .where('merchant_id', '=', owner.merchantId)
      .where('environment', '=', owner.environment);
    if (opts.type) q = q.where('type', '=', opts.type);
    if (opts.paymentId) q = q.where('payment_id', '=', opts.paymentId);
    if (opts.startingAfter) {
      const cursor = await this.#eventRow(owner, opts.startingAfter);
      q = q.where((eb) =>
        eb.or([
          eb('created_at', '<', cursor.created_at),
          eb.and([eb('created_at', '=', cursor.created_at), eb('id', '<', cursor.id)]),
        ]),
      );
    }
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map((r) => this.#eventView(r));
  }

  async getEvent(owner: Owner, id: string): Promise<EventView> {
    return this.#eventView(await this.#eventRow(owner, id));
  }

  /** The stored body, byte for byte as every delivery sends it. */
  async getEventBody(owner: Owner, id: string): Promise<string> {
    return (await this.#eventRow(owner, id)).body;
  }

  // ---- deliveries ------------------------------------------------------------------------------

  #deliveryView(row: DeliveryRow, attempts?: Selectable<WebhookAttemptsTable>[]): DeliveryView {
    return {
      id: row.id,
      object: 'webhook_delivery',
      eventId: row.event_id,
      target: { kind: row.target_kind, id: row.target_id, url: row.target_url },
      sequence: row.sequence,
      workflowId: row.workflow_id,
      status: row.status,
      attempts: row.attempts,
      nextAttemptAt: iso(row.next_attempt_at),
      lastStatusCode: row.last_status_code,
      lastError: row.last_error,
      failureReason: row.failure_reason,
      createdAt: iso(row.created_at)!,
      updatedAt: iso(row.updated_at)!,
      ...(attempts
        ? {
            attemptLog: attempts.map((a) => ({
              attempt: a.attempt,
              attemptedAt: iso(a.attempted_at)!,
              url: a.target_url,
              statusCode: a.status_code,
              latencyMs: a.latency_ms,
              error: a.error,
              responseSnippet: a.response_snippet,
            })),
          }
        : {}),
    };
  }

  /** Every delivery of an event (automatic and redeliveries), oldest first, with their attempts. */
  async listDeliveries(owner: Owner, eventId: string): Promise<DeliveryView[]> {
    await this.#eventRow(owner, eventId);
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('event_id', '=', eventId)
      .orderBy('created_at', 'asc')
      .orderBy('sequence', 'asc')
      .orderBy('id', 'asc')
      .execute();
    if (rows.length === 0) return [];
    const attempts = await this.db
      .selectFrom('webhook_attempts')
      .selectAll()
      .where(
        'delivery_id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('attempt', 'asc')
      .execute();
    return rows.map((r) =>
      this.#deliveryView(
        r,
        attempts.filter((a) => a.delivery_id === r.id),
      ),
    );
  }

  /** One delivery with its attempts; `owner` omitted only for internal callers. */
  async getDelivery(deliveryId: string, owner?: Owner): Promise<DeliveryView> {
    let q = this.db.selectFrom('webhook_deliveries').selectAll().where('id', '=', deliveryId);
    if (owner) q = q.where('merchant_id', '=', owner.merchantId);
    const row = await q.executeTakeFirst();
    if (!row) throw notFound('Webhook delivery');
    if (owner) await this.#eventRow(owner, row.event_id);
    const attempts = await this.db
      .selectFrom('webhook_attempts')
      .selectAll()
      .where('delivery_id', '=', deliveryId)
      .orderBy('attempt', 'asc')
      .execute();
    return this.#deliveryView(row, attempts);
  }

  /** The targets an event goes to now: the payment's callback URL and the matching enabled endpoints. */
  async #targets(
    event: EventHead,
    onlyEndpoint?: string,
    /** The subject's row when the caller has it (a payment's event, in the transaction that made it). */
    known?: TargetSource,
  ): Promise<Array<{ kind: DeliveryTargetKind; id: string; url: string; key: string }>> {
    const out: Array<{ kind: DeliveryTargetKind; id: string; url: string; key: string }> = [];
    if (known) {
      if (known.callback_url && known.api_key_id) {
        out.push({ kind: 'callback_url', id: known.api_key_id, url: known.callback_url, key: 'callback' });
      }
    } else if (onlyEndpoint === undefined) {
      // events.payment_id names the payment or payout the event is about
      const table = event.type.startsWith('payout.') ? 'payouts' : 'payments';
      // a reversal's events go to the callback URL of the payment it reverses
      const reversal = /^(payment\.reversed|reversal\.)/.test(event.type)
        ? await this.db
            .selectFrom('reversals')
            .select('payment_id')
            .where('id', '=', event.payment_id)
            .executeTakeFirst()
        : undefined;
      const payment = await this.db
        .selectFrom(table)
        .select(['callback_url', 'api_key_id'])
        .where('id', '=', reversal?.payment_id ?? event.payment_id)
        .executeTakeFirst();
      // a callback URL is signed with the secret of the API key that created the payment or payout
      if (payment?.callback_url && payment.api_key_id) {
        out.push({
          kind: 'callback_url',
          id: payment.api_key_id,
          url: payment.callback_url,
          key: 'callback',
        });
      }
    }
    let q = this.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('merchant_id', '=', event.merchant_id)
      .where('environment', '=', event.environment);
    if (onlyEndpoint !== undefined) q = q.where('id', '=', onlyEndpoint);
    const endpoints = await q.orderBy('created_at', 'asc').execute();
    if (onlyEndpoint !== undefined) {
      const ep = endpoints[0];
      if (!ep) throw notFound('Webhook endpoint');
      if (!ep.enabled) throw new MalipoError('CONFLICT', 'The webhook endpoint is disabled; enable it first');
    }
    for (const ep of endpoints) {
      const events = parseJson<string[]>(ep.events);
      if (!ep.enabled) continue;
      if (onlyEndpoint === undefined && !events.includes('*') && !events.includes(event.type)) continue;
      out.push({ kind: 'endpoint', id: ep.id, url: ep.url, key: ep.id });
    }
    return out;
  }

  async #insertDeliveries(
    event: Selectable<EventsTable>,
    targets: Array<{ kind: DeliveryTargetKind; id: string; url: string; key: string }>,
    sequenceFor: (t: { kind: DeliveryTargetKind; id: string }) => Promise<number>,
  ): Promise<DeliveryRef[]> {
    const refs: DeliveryRef[] = [];
    for (const t of targets) {
      const sequence = await sequenceFor(t);
      const now = this.#now();
      await this.db
        .insertInto('webhook_deliveries')
        .values(deliveryRow(event, t, sequence, now))
        .onConflict((oc) => oc.columns(['event_id', 'target_kind', 'target_id', 'sequence']).doNothing())
        .execute();
      const row = await this.db
        .selectFrom('webhook_deliveries')
        .select(['id', 'workflow_id'])
        .where('event_id', '=', event.id)
        .where('target_kind', '=', t.kind)
        .where('target_id', '=', t.id)
        .where('sequence', '=', sequence)
        .executeTakeFirstOrThrow();
      refs.push({ deliveryId: row.id, eventId: event.id, workflowId: row.workflow_id });
    }
    return refs;
  }

  /**
   * The automatic deliveries of an event just appended by a payment's change, inside that change's
   * transaction (so with a repository made on it): the payment row is at hand, none can exist yet,
   * so this is one SELECT of the endpoints and one multi-row INSERT.
   */
  async planNewDeliveries(event: EventHead, payment: TargetSource): Promise<DeliveryRef[]> {
    const targets = await this.#targets(event, undefined, payment);
    if (targets.length === 0) return [];
    const now = this.#now();
    const rows = await this.db
      .insertInto('webhook_deliveries')
      .values(targets.map((t) => deliveryRow(event, t, 0, now)))
      .returning(['id', 'workflow_id'])
      .execute();
    return rows.map((r) => ({ deliveryId: r.id, eventId: event.id, workflowId: r.workflow_id }));
  }

  /**
   * The automatic deliveries of a new event, one per current target. Idempotent: calling it again
   * (a retried activity) returns the same deliveries and creates none.
   */
  async planDeliveries(eventId: string): Promise<DeliveryRef[]> {
    const event = await this.db.selectFrom('events').selectAll().where('id', '=', eventId).executeTakeFirst();
    if (!event) throw notFound('Event');
    const existing = await this.db
      .selectFrom('webhook_deliveries')
      .select(['id', 'workflow_id'])
      .where('event_id', '=', eventId)
      .where('sequence', '=', 0)
      .orderBy('created_at', 'asc')
      .execute();
    // targets are fixed the first time: an endpoint added later does not get older events
    if (existing.length > 0) {
      return existing.map((r) => ({ deliveryId: r.id, eventId, workflowId: r.workflow_id }));
    }
    return this.#insertDeliveries(event, await this.#targets(event), async () => 0);
  }

  /**
   * New deliveries of the same event (same id, fresh attempts): to every current target, or to one
   * endpoint. Each gets the next sequence number for its target.
   */
  async createRedelivery(
    owner: Owner,
    eventId: string,
    opts: { endpointId?: string } = {},
  ): Promise<DeliveryRef[]> {
    const event = await this.#eventRow(owner, eventId);
    const targets = await this.#targets(event, opts.endpointId);
    return this.#insertDeliveries(event, targets, async (t) => {
      const r = await this.db
        .selectFrom('webhook_deliveries')
        .select(sql<number | null>`max(sequence)`.as('max'))
        .where('event_id', '=', eventId)
        .where('target_kind', '=', t.kind)
        .where('target_id', '=', t.id)
        .executeTakeFirst();
      return r?.max == null ? 0 : Number(r.max) + 1;
    });
  }

  // ---- used by the delivery activities -----------------------------------------------------------

  /** Loads the body, URL and current secrets for one attempt, or why nothing should be sent. */
  async attemptContext(deliveryId: string): Promise<AttemptContext> {
    const d = await this.db
      .selectFrom('webhook_deliveries')
      .innerJoin('events', 'events.id', 'webhook_deliveries.event_id')
      // an endpoint's URL, state and secrets in the same round trip
      .leftJoin('webhook_endpoints as ep', (j) =>
        j
          .onRef('ep.id', '=', 'webhook_deliveries.target_id')
          .on('webhook_deliveries.target_kind', '=', 'endpoint'),
      )
      .select([
        'ep.id as ep_id',
        'ep.url as ep_url',
        'ep.enabled as ep_enabled',
        'ep.disabled_reason as ep_disabled_reason',
        'ep.secrets as ep_secrets',
        'webhook_deliveries.id',
        'webhook_deliveries.target_kind',
        'webhook_deliveries.target_id',
        'webhook_deliveries.target_url',
        'events.id as event_id',
        'events.type as event_type',
        'events.body as body',
      ])
      .where('webhook_deliveries.id', '=', deliveryId)
      .executeTakeFirst();
    if (!d) throw notFound('Webhook delivery');
    const base = {
      deliveryId,
      eventId: d.event_id,
      eventType: d.event_type,
      body: d.body,
      targetKind: d.target_kind,
      targetId: d.target_id,
    };
    if (d.target_kind === 'endpoint') {
      if (d.ep_id === null || d.ep_url === null || d.ep_secrets === null)
        return { kind: 'skip', deliveryId, reason: 'the endpoint was deleted' };
      if (!d.ep_enabled) {
        return {
          kind: 'skip',
          deliveryId,
          reason: `the endpoint is disabled (${d.ep_disabled_reason ?? 'no reason'})`,
        };
      }
      const secrets = this.activeSecrets({ secrets: d.ep_secrets });
      if (secrets.length === 0)
        return { kind: 'skip', deliveryId, reason: 'the endpoint has no signing secret' };
      return { kind: 'send', ...base, url: d.ep_url, secrets };
    }
    // callback URL: the creating key's secret, and its replacements' (a rotated key's receiver may have switched)
    const secrets: string[] = [];
    let keyId: string | null = d.target_id;
    for (let hop = 0; keyId && hop < 4; hop++) {
      const key = await this.db
        .selectFrom('api_keys')
        .select(['webhook_secret_enc', 'replaced_by'])
        .where('id', '=', keyId)
        .executeTakeFirst();
      if (!key) break;
      secrets.unshift(this.box.open(key.webhook_secret_enc));
      keyId = key.replaced_by;
    }
    if (secrets.length === 0)
      return { kind: 'skip', deliveryId, reason: 'the API key that signs it is gone' };
    return { kind: 'send', ...base, url: d.target_url, secrets };
  }

  /**
   * Records one attempt (idempotently per attempt number) and its effect on the delivery and the
   * endpoint: a success clears the endpoint's failure run; a failure starts one, and a run of
   * DISABLE_AFTER_FAILING_MS disables the endpoint. Returns the reason when it did.
   */
  async recordAttempt(deliveryId: string, rec: AttemptRecord): Promise<{ endpointDisabled?: string }> {
    if (rec.ok) {
      // A success is one statement (so atomic without a transaction): the attempt row, the
      // delivery's state and the end of its endpoint's failure run, as data-modifying CTEs.
      await this.db
        .with('attempt', (db) => this.#attemptInsert(db, deliveryId, rec).returning('delivery_id'))
        .with('delivery', (db) =>
          // the first CTE adds a name the update does not use
          this.#deliveryUpdate(db as unknown as QueryCreator<Database>, deliveryId, rec).returning([
            'target_kind',
            'target_id',
          ]),
        )
        .updateTable('webhook_endpoints')
        .set({ failing_since: null })
        .where('id', 'in', (eb) =>
          eb.selectFrom('delivery').select('target_id').where('target_kind', '=', 'endpoint'),
        )
        .where('failing_since', 'is not', null)
        .execute();
      return {};
    }
    return this.db.transaction().execute(async (trx) => {
      await this.#attemptInsert(trx, deliveryId, rec).execute();
      const d = await this.#deliveryUpdate(trx, deliveryId, rec)
        .returning(['target_kind', 'target_id'])
        .executeTakeFirst();
      if (d?.target_kind !== 'endpoint') return {};
      const ep = await trx
        .selectFrom('webhook_endpoints')
        .select(['failing_since', 'enabled'])
        .where('id', '=', d.target_id)
        .forUpdate()
        .executeTakeFirst();
      if (!ep?.enabled) return {};
      if (ep.failing_since === null) {
        await trx
          .updateTable('webhook_endpoints')
          .set({ failing_since: rec.at })
          .where('id', '=', d.target_id)
          .execute();
        return {};
      }
      const since = new Date(ep.failing_since);
      if (rec.at.getTime() - since.getTime() < DISABLE_AFTER_FAILING_MS) return {};
      const reason = `every delivery failed since ${since.toISOString()} (5 days); last: ${
        rec.statusCode === null ? (rec.error ?? 'no answer') : `HTTP ${rec.statusCode}`
      }`;
      await trx
        .updateTable('webhook_endpoints')
        .set({ enabled: false, disabled_reason: reason, disabled_at: rec.at, updated_at: rec.at })
        .where('id', '=', d.target_id)
        .execute();
      return { endpointDisabled: reason };
    });
  }

  /** The attempt's row, idempotent per attempt number (a retried activity overwrites its own row). */
  #attemptInsert(db: QueryCreator<Database>, deliveryId: string, rec: AttemptRecord) {
    return db
      .insertInto('webhook_attempts')
      .values({
        delivery_id: deliveryId,
        attempt: rec.attempt,
        attempted_at: rec.at,
        target_url: rec.url,
        status_code: rec.statusCode,
        latency_ms: Math.max(0, Math.round(rec.latencyMs)),
        error: rec.error ?? null,
        response_snippet: rec.responseSnippet,
      })
      .onConflict((oc) =>
        oc.columns(['delivery_id', 'attempt']).doUpdateSet({
          attempted_at: rec.at,
          status_code: rec.statusCode,
          latency_ms: Math.max(0, Math.round(rec.latencyMs)),
          error: rec.error ?? null,
          response_snippet: rec.responseSnippet,
        }),
      );
  }

  /** The delivery's state after an attempt. */
  #deliveryUpdate(db: QueryCreator<Database>, deliveryId: string, rec: AttemptRecord) {
    return db
      .updateTable('webhook_deliveries')
      .set({
        attempts: sql<number>`greatest(attempts, ${rec.attempt})`,
        last_status_code: rec.statusCode,
        last_error: rec.error ?? null,
        target_url: rec.url,
        updated_at: rec.at,
        ...(rec.ok ? { status: 'succeeded' as const, next_attempt_at: null } : {}),
      })
      .where('id', '=', deliveryId);
  }

  async setNextAttempt(deliveryId: string, at: Date | null): Promise<void> {
    await this.db
      .updateTable('webhook_deliveries')
      .set({ next_attempt_at: at, updated_at: this.#now() })
      .where('id', '=', deliveryId)
      .where('status', '=', 'pending')
      .execute();
  }

  /** Final state; a delivery that already succeeded stays succeeded. */
  async finishDelivery(deliveryId: string, status: 'succeeded' | 'failed', reason?: string): Promise<void> {
    await this.db
      .updateTable('webhook_deliveries')
      .set({ status, next_attempt_at: null, failure_reason: reason ?? null, updated_at: this.#now() })
      .where('id', '=', deliveryId)
      .where('status', '!=', 'succeeded')
      .execute();
  }

  /** Disables the endpoint a delivery goes to (410 Gone); a no-op for callback URLs. */
  async disableTargetOf(deliveryId: string, reason: string): Promise<{ disabled: boolean }> {
    const d = await this.db
      .selectFrom('webhook_deliveries')
      .select(['target_kind', 'target_id'])
      .where('id', '=', deliveryId)
      .executeTakeFirst();
    if (d?.target_kind !== 'endpoint') return { disabled: false };
    const now = this.#now();
    const r = await this.db
      .updateTable('webhook_endpoints')
      .set({ enabled: false, disabled_reason: reason, disabled_at: now, updated_at: now })
      .where('id', '=', d.target_id)
      .where('enabled', '=', true)
      .executeTakeFirst();
    return { disabled: Number(r.numUpdatedRows) > 0 };
  }
}
