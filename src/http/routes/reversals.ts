/**
 * Reversals (refunds) of successful payments: `POST/GET /v1/payments/:id/reversals`,
 * `GET /v1/reversals/:id`. Creation is idempotent like payment creation and answers 202 with the
 * pending reversal; each reversal is one `reversal` workflow that sends at most one Reversal request.
 * /hooks/daraja/reversal/:reversalId/:token/:kind is Daraja's ResultURL / QueueTimeOutURL (and the
 * ResultURL of the reversal's Transaction Status lookups).
 */
import { z } from 'zod';
import { reversalResultDetails, transactionStatusDetails } from '../../daraja/callbacks';
import { MAX_TRANSACTION_KES, parseAmount } from '../../domain/money';
import { PAYMENT_STATUSES } from '../../domain/payment';
import { REVERSAL_FAILURE_REASONS, REVERSAL_REVIEW_REASONS } from '../../domain/reversal';
import { REVERSAL_CALLBACK_KINDS } from '../../reversals/callback-paths';
import { ReversalService } from '../../reversals/service';
import type { AppDeps } from '../deps';
import { DARAJA_ACK, darajaAckResponses, readAsyncResultHook } from '../hooks';
import { defineRoute } from '../route';
import { cursorParam, idParams, safeText, Timestamp } from '../schemas';
import { fieldError, idempotencyKeyOf } from './payments';

export const ReversalSchema = z
  .object({
    id: z.string().meta({ example: 'rev_3xK9mQ2vL8nR4tY7wZ1aB5' }),
    object: z.literal('reversal'),
    paymentId: z.string(),
    status: z.enum(PAYMENT_STATUSES),
    amount: z.number().int().meta({ description: 'Whole KES sent back' }),
    currency: z.literal('KES'),
    reason: z.string(),
    channelId: z.string(),
    environment: z.string(),
    conversationId: z.string().nullable(),
    originatorConversationId: z.string().nullable(),
    mpesaReceipt: z.string().nullable().meta({ description: 'The reversal’s own M-Pesa transaction id' }),
    resultCode: z.string().nullable(),
    resultDesc: z.string().nullable(),
    failureReason: z.enum(REVERSAL_FAILURE_REASONS).nullable(),
    reviewReason: z.enum(REVERSAL_REVIEW_REASONS).nullable(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    settledAt: Timestamp.nullable(),
  })
  .meta({ id: 'Reversal' });

const CreateReversalSchema = z
  .strictObject({
    amount: z
      .number()
      .optional()
      .meta({ description: 'Whole KES; default: all that is not yet reversed', example: 100 }),
    reason: z
      .string()
      .transform((s) => s.trim())
      .pipe(safeText(100, 'reason').pipe(z.string().min(2, 'reason must be at least 2 characters')))
      .meta({
        description: 'Sent to Daraja as Remarks: 2–100 letters, digits, spaces, dot, dash, underscore',
      }),
    idempotencyKey: z.string().optional().meta({ description: 'Alternative to the Idempotency-Key header' }),
  })
  .meta({ id: 'CreateReversal' });

const services = new WeakMap<AppDeps, ReversalService>();
/** One service per app (routes get the app's deps; the service holds no state beyond them). */
export function reversalServiceOf(deps: AppDeps): ReversalService {
  let s = services.get(deps);
  if (!s) {
    s = new ReversalService({
      db: deps.db,
      temporal: deps.temporal,
      taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
    });
    services.set(deps, s);
  }
  return s;
}

export const createReversalRoute = defineRoute({
  method: 'post',
  path: '/v1/payments/:id/reversals',
  scope: 'reversals:create',
  rateLimit: 'creation',
  summary: 'Reverse (refund) a successful payment, in full or in part',
  description:
    'Starts a durable reversal workflow and answers 202 with the pending reversal. The reversals of a payment that are not `failed` never add up to more than its amount (422 `REVERSAL_EXCEEDS_PAYMENT`); only a `success` payment can be reversed (409). The Reversal request is sent at most once. Send `Idempotency-Key` to make retries safe.',
  tags: ['reversals'],
  request: { params: idParams('pay', 'pay_3xK9mQ2vL8nR4tY7wZ1aB5'), body: CreateReversalSchema },
  responses: { 202: { description: 'The reversal', schema: ReversalSchema } },
  errors: [
    'INVALID_AMOUNT',
    'IDEMPOTENCY_KEY_IN_USE',
    'IDEMPOTENCY_KEY_MISMATCH',
    'RESOURCE_NOT_FOUND',
    'CONFLICT',
    'REVERSAL_EXCEEDS_PAYMENT',
  ],
  handler: async ({ deps, auth, params, body, req, reply }) => {
    const key = idempotencyKeyOf(
      req.get('idempotency-key'),
      req.get('x-idempotency-key'),
      body.idempotencyKey,
    );
    let amount: number | undefined;
    if (body.amount !== undefined) {
      const a = parseAmount(body.amount, MAX_TRANSACTION_KES);
      if (!a.ok) throw fieldError('INVALID_AMOUNT', 'amount', a.reason);
      amount = a.amount;
    }
    const { idempotencyKey: _ignored, ...hashed } = req.body as Record<string, unknown>;
    const result = await reversalServiceOf(deps).create(
      auth,
      params.id,
      { amount, reason: body.reason },
      key,
      hashed,
    );
    return reply(202, result.body, result.replayed ? { 'Idempotent-Replayed': 'true' } : undefined);
  },
});

export const listReversalsRoute = defineRoute({
  method: 'get',
  path: '/v1/payments/:id/reversals',
  scope: 'reversals:read',
  summary: 'List the reversals of a payment',
  description: 'Newest first. Pass `nextCursor` as `cursor` for the next page.',
  tags: ['reversals'],
  request: {
    params: idParams('pay', 'pay_3xK9mQ2vL8nR4tY7wZ1aB5'),
    query: z.object({
      limit: z.coerce.number().int().min(1).max(100).default(20),
      cursor: z.string().max(200).optional(),
    }),
  },
  responses: {
    200: {
      description: 'A page of reversals',
      schema: z.object({
        object: z.literal('list'),
        data: z.array(ReversalSchema),
        nextCursor: z.string().nullable(),
      }),
    },
  },
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, auth, params, query, reply }) => {
    const page = await reversalServiceOf(deps).listForPayment(auth, params.id, {
      cursor: cursorParam(query.cursor),
      limit: query.limit,
    });
    return reply(200, { object: 'list' as const, data: page.data, nextCursor: page.nextCursor });
  },
});

export const getReversalRoute = defineRoute({
  method: 'get',
  path: '/v1/reversals/:id',
  scope: 'reversals:read',
  summary: 'Retrieve a reversal',
  tags: ['reversals'],
  request: { params: idParams('rev', 'rev_3xK9mQ2vL8nR4tY7wZ1aB5') },
  responses: { 200: { description: 'The reversal', schema: ReversalSchema } },
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, auth, params, reply }) =>
    reply(200, await reversalServiceOf(deps).get(auth, params.id)),
});

const whole = (n: number | undefined) => (n !== undefined && Number.isFinite(n) ? n : undefined);

export const reversalCallbackRoute = defineRoute({
  method: 'post',
  path: '/hooks/daraja/reversal/:reversalId/:token/:kind',
  scope: null,
  hidden: true,
  summary: 'Daraja Reversal ResultURL / QueueTimeOutURL, and the reversal’s Transaction Status ResultURL',
  tags: ['hooks'],
  request: {
    params: z.object({
      reversalId: z.string().max(80),
      token: z.string().max(80),
      kind: z.enum(REVERSAL_CALLBACK_KINDS),
    }),
    body: z.unknown(),
  },
  responses: darajaAckResponses,
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, params, body, req, reply }) => {
    const hook = await readAsyncResultHook(
      req,
      deps,
      {
        purpose: 'reversal',
        idKey: 'reversalId',
        id: params.reversalId,
        token: params.token,
        kind: params.kind,
      },
      body,
    );
    if (!hook) return reply(200, DARAJA_ACK);
    const service = reversalServiceOf(deps);
    const { clean, result: r, common } = hook;
    let outcome: 'signalled' | 'inbox';
    if (params.kind === 'status') {
      const d = transactionStatusDetails(r);
      outcome = await service.deliver(
        params.reversalId,
        {
          kind: 'status',
          value: { ...common, transactionStatus: d.status, receipt: d.receipt, amount: whole(d.amount) },
        },
        clean,
      );
    } else {
      const d = reversalResultDetails(r);
      outcome = await service.deliver(
        params.reversalId,
        {
          kind: 'result',
          value: {
            ...common,
            kind: params.kind === 'timeout' ? 'queue_timeout' : 'result',
            ...(r.originatorConversationId ? { originatorConversationId: r.originatorConversationId } : {}),
            transactionId: r.success ? d.transactionId : undefined,
            amount: whole(d.amount),
          },
        },
        clean,
      );
    }
    req.log?.info(
      { reversalId: params.reversalId, kind: params.kind, resultCode: r.resultCode, outcome },
      'reversal callback',
    );
    return reply(200, DARAJA_ACK);
  },
});

export const reversalRoutes = [
  createReversalRoute,
  listReversalsRoute,
  getReversalRoute,
  reversalCallbackRoute,
];
