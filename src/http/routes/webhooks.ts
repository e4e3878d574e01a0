/**
 * /v1/webhook-endpoints and /v1/events, with the `webhooks:manage` scope. A key sees the endpoints and
 * events of its own merchant and environment only; anything else is "not found". Endpoint URLs pass the
 * SSRF guard when saved (src/webhooks/ssrf.ts); a refusal is VALIDATION_ERROR with the reason. The
 * signing secret is in the creation and rotate-secret responses only. Enabling and disabling is
 * `PATCH /v1/webhook-endpoints/:id` with `{ "enabled": true | false }`.
 */
import { z } from 'zod';
import { MalipoError } from '../../domain/errors';
import type { AuthContext } from '../../platform/scopes';
import { appendAudit } from '../../platform/audit';
import { redeliverEvent } from '../../webhooks/dispatch';
import {
  type DeliveryView,
  type EndpointView,
  type EventView,
  type Owner,
  SECRET_ROTATION_OVERLAP_SECONDS,
  WEBHOOK_EVENT_TYPES,
} from '../../webhooks/repository';
import type { AppDeps } from '../deps';
import { defineRoute } from '../route';
import { idParams, Timestamp } from '../schemas';

const TAGS = ['webhooks'];
const EVENT_TYPE_OR_ALL = ['*', ...WEBHOOK_EVENT_TYPES] as const;
const ENDPOINT_ID = /^we_[0-9A-Za-z]{6,64}$/;
const MAX_OVERLAP_SECONDS = 7 * 24 * 3600;

export const WebhookEndpointSchema = z
  .object({
    id: z.string().meta({ example: 'we_5Tg8Kp2Lm9Xc4Vb8Nz1Kd3' }),
    object: z.literal('webhook_endpoint'),
    environment: z.string(),
    url: z.string(),
    events: z.array(z.string()).meta({ description: 'Event types delivered here; `*` is every type.' }),
    description: z.string(),
    enabled: z.boolean(),
    disabledReason: z
      .string()
      .nullable()
      .meta({ description: 'Why the endpoint is disabled (by you, 410 Gone, 5 days of failures).' }),
    disabledAt: Timestamp.nullable(),
    previousSecretExpiresAt: Timestamp.nullable().meta({
      description: 'While a rotation overlaps: when the previous secret stops signing.',
    }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: 'WebhookEndpoint' });

export const WebhookEndpointWithSecretSchema = WebhookEndpointSchema.extend({
  secret: z.string().meta({
    description: 'Signs the deliveries to this endpoint (whsec_…). Shown only now; store it safely.',
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  }),
}).meta({ id: 'WebhookEndpointWithSecret' });

export const EventSchema = z
  .object({
    id: z.string().meta({ example: 'evt_3xK9mQ2vL8nR4tY7wZ1aB5' }),
    type: z.string().meta({ example: 'payment.success' }),
    created: z.number().int().meta({ description: 'Unix seconds' }),
    data: z.unknown().meta({ description: 'The payment as `GET /v1/payments/:id` returned it then.' }),
  })
  .meta({
    id: 'Event',
    description: 'The event exactly as every delivery of it sends it (the same bytes each time).',
  });

const AttemptSchema = z
  .object({
    attempt: z.number().int(),
    attemptedAt: Timestamp,
    url: z.string(),
    statusCode: z.number().int().nullable().meta({ description: 'Null when no answer came.' }),
    latencyMs: z.number().int(),
    error: z.string().nullable(),
    responseSnippet: z.string().meta({ description: 'The first 1 KiB of the answer.' }),
  })
  .meta({ id: 'WebhookAttempt' });

export const DeliverySchema = z
  .object({
    id: z.string().meta({ example: 'dlv_8Hq2Lm9Xc4Vb8Nz1Kd5Rt3' }),
    object: z.literal('webhook_delivery'),
    eventId: z.string(),
    target: z.object({
      kind: z.enum(['endpoint', 'callback_url']),
      id: z.string().meta({
        description: 'The endpoint id, or for a callback URL the API key whose secret signs it.',
      }),
      url: z.string(),
    }),
    sequence: z.number().int().meta({ description: '0 for the automatic delivery, 1… for redeliveries.' }),
    workflowId: z.string(),
    status: z.enum(['pending', 'succeeded', 'failed']),
    attempts: z.number().int(),
    nextAttemptAt: Timestamp.nullable(),
    lastStatusCode: z.number().int().nullable(),
    lastError: z.string().nullable(),
    failureReason: z.string().nullable(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    attemptLog: z.array(AttemptSchema),
  })
  .meta({ id: 'WebhookDelivery' });

const page = <T extends z.ZodType>(item: T) =>
  z.object({
    object: z.literal('list'),
    data: z.array(item),
    nextCursor: z
      .string()
      .nullable()
      .meta({ description: 'Pass as `cursor` for the next page; null on the last page.' }),
  });

const pageQuery = (prefix: string) => ({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z
    .string()
    .regex(new RegExp(`^${prefix}_[0-9A-Za-z]{6,64}$`), `must be a nextCursor this API returned`)
    .optional(),
});

const Url = z.string().min(1).max(2048).meta({
  description:
    'http(s); https only in production mode, and never a private, loopback, link-local or metadata address',
  example: 'https://shop.example.com/webhooks/malipo',
});
const Events = z
  .array(z.enum(EVENT_TYPE_OR_ALL))
  .min(1)
  .max(20)
  .meta({ description: 'The event types to receive, or `["*"]` for all.' });
const Description = z.string().max(500);

const CreateEndpointSchema = z
  .strictObject({ url: Url, events: Events, description: Description.optional() })
  .meta({ id: 'CreateWebhookEndpoint' });

const UpdateEndpointSchema = z
  .strictObject({
    url: Url.optional(),
    events: Events.optional(),
    description: Description.optional(),
    enabled: z.boolean().optional().meta({
      description: '`false` disables the endpoint (pending deliveries stop); `true` re-enables it.',
    }),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'change at least one field' })
  .meta({ id: 'UpdateWebhookEndpoint' });

const RotateSecretSchema = z
  .strictObject({
    overlapSeconds: z
      .number()
      .int()
      .min(0)
      .max(MAX_OVERLAP_SECONDS)
      .optional()
      .meta({
        description: `How long the current secret keeps signing. Default ${SECRET_ROTATION_OVERLAP_SECONDS} (24 h).`,
      }),
  })
  .meta({ id: 'RotateWebhookSecret' });

const RedeliverSchema = z
  .strictObject({
    endpointId: z
      .string()
      .regex(ENDPOINT_ID, 'must look like we_…')
      .optional()
      .meta({ description: 'Only this endpoint; by default every current target of the event.' }),
  })
  .meta({ id: 'RedeliverEvent' });

const EndpointParams = idParams('we', 'we_5Tg8Kp2Lm9Xc4Vb8Nz1Kd3');
const EventParams = idParams('evt', 'evt_3xK9mQ2vL8nR4tY7wZ1aB5');

const ownerOf = (auth: AuthContext): Owner => ({
  merchantId: auth.merchantId,
  environment: auth.environment,
});

function endpointBody(e: EndpointView): z.input<typeof WebhookEndpointSchema> {
  return { ...e };
}

function eventBody(e: EventView): z.input<typeof EventSchema> {
  return { id: e.id, type: e.type, created: e.created, data: e.data };
}

function deliveryBody(d: DeliveryView): z.input<typeof DeliverySchema> {
  return { ...d, attemptLog: d.attemptLog ?? [] };
}

/** A cursor that names nothing of the caller's is a bad query, not a missing resource. */
async function withCursor<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (err instanceof MalipoError && err.code === 'RESOURCE_NOT_FOUND') {
      throw new MalipoError('VALIDATION_ERROR', 'The request query is invalid', {
        details: [{ path: 'cursor', message: 'is not a cursor this API returned', code: 'custom' }],
      });
    }
    throw err;
  }
}

/** One page and the cursor of the next: the last id when at least one more item follows it. */
async function paged<T extends { id: string }>(
  limit: number,
  cursor: string | undefined,
  list: (o: { limit: number; startingAfter?: string }) => Promise<T[]>,
): Promise<{ data: T[]; nextCursor: string | null }> {
  const data = await withCursor(() => list({ limit, ...(cursor ? { startingAfter: cursor } : {}) }));
  const last = data.at(-1);
  if (data.length < limit || !last) return { data, nextCursor: null };
  const more = await list({ limit: 1, startingAfter: last.id });
  return { data, nextCursor: more.length > 0 ? last.id : null };
}

const audit = (
  deps: AppDeps,
  auth: AuthContext,
  actor: { actor: string; requestId?: string | undefined },
  action: Parameters<typeof appendAudit>[1]['action'],
  targetId: string,
  details?: Record<string, unknown>,
) =>
  appendAudit(deps.db, {
    actor: actor.actor,
    action,
    targetId,
    merchantId: auth.merchantId,
    requestId: actor.requestId,
    ...(details ? { details } : {}),
  });

// ---- endpoints -------------------------------------------------------------------------------------

export const createEndpointRoute = defineRoute({
  method: 'post',
  path: '/v1/webhook-endpoints',
  scope: 'webhooks:manage',
  summary: 'Register a webhook endpoint',
  description:
    'The URL passes the SSRF guard first. The response carries the endpoint’s signing secret (`whsec_…`), shown only now.',
  tags: TAGS,
  request: { body: CreateEndpointSchema },
  responses: { 201: { description: 'The endpoint and its secret', schema: WebhookEndpointWithSecretSchema } },
  handler: async ({ deps, auth, body, actor, reply }) => {
    const { endpoint, secret } = await deps.webhooks.createEndpoint(ownerOf(auth), body);
    await audit(deps, auth, actor, 'webhook_endpoint.create', endpoint.id, { events: endpoint.events });
    return reply(201, { ...endpointBody(endpoint), secret });
  },
});

export const listEndpointsRoute = defineRoute({
  method: 'get',
  path: '/v1/webhook-endpoints',
  scope: 'webhooks:manage',
  summary: 'List webhook endpoints',
  description: 'Newest first. Pass `nextCursor` as `cursor` for the next page.',
  tags: TAGS,
  request: { query: z.object(pageQuery('we')) },
  responses: { 200: { description: 'A page of endpoints', schema: page(WebhookEndpointSchema) } },
  handler: async ({ deps, auth, query, reply }) => {
    const p = await paged(query.limit, query.cursor, (o) => deps.webhooks.listEndpoints(ownerOf(auth), o));
    return reply(200, { object: 'list' as const, data: p.data.map(endpointBody), nextCursor: p.nextCursor });
  },
});

export const getEndpointRoute = defineRoute({
  method: 'get',
  path: '/v1/webhook-endpoints/:id',
  scope: 'webhooks:manage',
  summary: 'Retrieve a webhook endpoint',
  tags: TAGS,
  request: { params: EndpointParams },
  responses: { 200: { description: 'The endpoint (never its secret)', schema: WebhookEndpointSchema } },
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, auth, params, reply }) =>
    reply(200, endpointBody(await deps.webhooks.getEndpoint(ownerOf(auth), params.id))),
});

export const updateEndpointRoute = defineRoute({
  method: 'patch',
  path: '/v1/webhook-endpoints/:id',
  scope: 'webhooks:manage',
  summary: 'Update, enable or disable a webhook endpoint',
  description:
    'Changes `url` (checked by the SSRF guard), `events`, `description`; `enabled: false` disables the endpoint and `enabled: true` enables it again (clearing `disabledReason`).',
  tags: TAGS,
  request: { params: EndpointParams, body: UpdateEndpointSchema },
  responses: { 200: { description: 'The updated endpoint', schema: WebhookEndpointSchema } },
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, auth, params, body, actor, reply }) => {
    const endpoint = await deps.webhooks.updateEndpoint(ownerOf(auth), params.id, body);
    await audit(deps, auth, actor, 'webhook_endpoint.update', endpoint.id, { fields: Object.keys(body) });
    return reply(200, endpointBody(endpoint));
  },
});

export const deleteEndpointRoute = defineRoute({
  method: 'delete',
  path: '/v1/webhook-endpoints/:id',
  scope: 'webhooks:manage',
  summary: 'Delete a webhook endpoint',
  description: 'Its pending deliveries stop at their next attempt.',
  tags: TAGS,
  request: { params: EndpointParams },
  responses: {
    200: {
      description: 'Deleted',
      schema: z.object({ id: z.string(), object: z.literal('webhook_endpoint'), deleted: z.literal(true) }),
    },
  },
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, auth, params, actor, reply }) => {
    await deps.webhooks.deleteEndpoint(ownerOf(auth), params.id);
    await audit(deps, auth, actor, 'webhook_endpoint.delete', params.id);
    return reply(200, { id: params.id, object: 'webhook_endpoint' as const, deleted: true as const });
  },
});

export const rotateEndpointSecretRoute = defineRoute({
  method: 'post',
  path: '/v1/webhook-endpoints/:id/rotate-secret',
  scope: 'webhooks:manage',
  summary: 'Rotate a webhook endpoint’s signing secret',
  description:
    'Returns a new secret, shown only now. The current secret keeps signing (beside the new one) for `overlapSeconds`, 24 hours by default; see `previousSecretExpiresAt`.',
  tags: TAGS,
  request: { params: EndpointParams, body: RotateSecretSchema },
  responses: {
    200: { description: 'The endpoint and its new secret', schema: WebhookEndpointWithSecretSchema },
  },
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, auth, params, body, actor, reply }) => {
    const { endpoint, secret } = await deps.webhooks.rotateSecret(ownerOf(auth), params.id, {
      ...(body.overlapSeconds !== undefined ? { overlapSeconds: body.overlapSeconds } : {}),
    });
    await audit(deps, auth, actor, 'webhook_endpoint.rotate_secret', endpoint.id, {
      previousSecretExpiresAt: endpoint.previousSecretExpiresAt,
    });
    return reply(200, { ...endpointBody(endpoint), secret });
  },
});

// ---- events ----------------------------------------------------------------------------------------

export const listEventsRoute = defineRoute({
  method: 'get',
  path: '/v1/events',
  scope: 'webhooks:manage',
  summary: 'List events',
  description:
    'Newest first, each exactly as delivered. Filter by `type` and `paymentId`; pass `nextCursor` as `cursor` for the next page.',
  tags: TAGS,
  request: {
    query: z.object({
      type: z.enum(WEBHOOK_EVENT_TYPES).optional(),
      paymentId: z
        .string()
        .regex(/^pay_[0-9A-Za-z]{6,64}$/, 'must look like pay_…')
        .optional(),
      ...pageQuery('evt'),
    }),
  },
  responses: { 200: { description: 'A page of events', schema: page(EventSchema) } },
  handler: async ({ deps, auth, query, reply }) => {
    const filter = {
      ...(query.type ? { type: query.type } : {}),
      ...(query.paymentId ? { paymentId: query.paymentId } : {}),
    };
    const p = await paged(query.limit, query.cursor, (o) =>
      deps.webhooks.listEvents(ownerOf(auth), { ...filter, ...o }),
    );
    return reply(200, { object: 'list' as const, data: p.data.map(eventBody), nextCursor: p.nextCursor });
  },
});

export const getEventRoute = defineRoute({
  method: 'get',
  path: '/v1/events/:id',
  scope: 'webhooks:manage',
  summary: 'Retrieve an event',
  description: 'The event exactly as its deliveries send it: `{ id, type, created, data }`.',
  tags: TAGS,
  request: { params: EventParams },
  responses: { 200: { description: 'The event', schema: EventSchema } },
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, auth, params, reply }) =>
    reply(200, eventBody(await deps.webhooks.getEvent(ownerOf(auth), params.id))),
});

export const listEventDeliveriesRoute = defineRoute({
  method: 'get',
  path: '/v1/events/:id/deliveries',
  scope: 'webhooks:manage',
  summary: 'List an event’s deliveries and their attempts',
  description:
    'One delivery per target (and per redelivery), oldest first, each with its attempt log: time, status code, latency, error and the first 1 KiB of the answer.',
  tags: TAGS,
  request: { params: EventParams },
  responses: {
    200: {
      description: 'The deliveries',
      schema: z.object({ object: z.literal('list'), data: z.array(DeliverySchema) }),
    },
  },
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, auth, params, reply }) => {
    const list = await deps.webhooks.listDeliveries(ownerOf(auth), params.id);
    return reply(200, { object: 'list' as const, data: list.map(deliveryBody) });
  },
});

export const redeliverEventRoute = defineRoute({
  method: 'post',
  path: '/v1/events/:id/redeliver',
  scope: 'webhooks:manage',
  summary: 'Redeliver an event',
  description:
    'Starts new deliveries of the same event (same id, same body, fresh attempts on the full schedule) to every current target — the payment’s callback URL and the enabled endpoints subscribed to its type — or, with `endpointId`, to that endpoint only (even if it is not subscribed to the type). Answers 202 with the new deliveries; an empty list when the event has no current target.',
  tags: TAGS,
  request: { params: EventParams, body: RedeliverSchema },
  responses: {
    202: {
      description: 'The deliveries started',
      schema: z.object({ object: z.literal('list'), data: z.array(DeliverySchema) }),
    },
  },
  errors: ['RESOURCE_NOT_FOUND', 'CONFLICT'],
  handler: async ({ deps, auth, params, body, actor, reply }) => {
    const owner = ownerOf(auth);
    const refs = await redeliverEvent(deps.webhooks, deps.deliveryStarter, owner, params.id, {
      ...(body.endpointId ? { endpointId: body.endpointId } : {}),
    });
    await audit(deps, auth, actor, 'event.redeliver', params.id, {
      endpointId: body.endpointId ?? null,
      deliveries: refs.map((r) => r.deliveryId),
    });
    const data: DeliveryView[] = [];
    for (const ref of refs) data.push(await deps.webhooks.getDelivery(ref.deliveryId, owner));
    return reply(202, { object: 'list' as const, data: data.map(deliveryBody) });
  },
});

export const webhookRoutes = [
  createEndpointRoute,
  listEndpointsRoute,
  getEndpointRoute,
  updateEndpointRoute,
  deleteEndpointRoute,
  rotateEndpointSecretRoute,
  listEventsRoute,
  getEventRoute,
  listEventDeliveriesRoute,
  redeliverEventRoute,
];
