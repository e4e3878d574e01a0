/**
 * /v1/payouts: B2C payouts. Creation is idempotent exactly like payments and answers 202 with the
 * pending payout; each payout is one `b2cPayout` workflow that sends at most one request to Daraja.
 * /hooks/daraja/b2c/:payoutId/:token/:kind is Daraja's ResultURL / QueueTimeOutURL (and the
 * ResultURL of the payout's Transaction Status lookups).
 */
import { z } from 'zod';
import { b2cResultDetails, transactionStatusDetails } from '../../daraja/callbacks';
import { MAX_TRANSACTION_KES, parseAmount } from '../../domain/money';
import { PAYMENT_STATUSES } from '../../domain/payment';
import { PAYOUT_COMMANDS, PAYOUT_FAILURE_REASONS, PAYOUT_REVIEW_REASONS } from '../../domain/payout';
import { normalizePhone } from '../../domain/phone';
import { PAYOUT_CALLBACK_KINDS } from '../../payouts/callback-paths';
import { DARAJA_ACK, darajaAckResponses, readAsyncResultHook } from '../hooks';
import { defineRoute } from '../route';
import { idParams, Timestamp, cursorParam, ChannelIdSchema } from '../schemas';
import { fieldError, idempotencyKeyOf, metadataSchema } from './payments';

/** M-Pesa's smallest B2C payout (below it Daraja answers "less than minimum", ResultCode 2). */
export const MIN_PAYOUT_KES = 10;

export const PayoutSchema = z
  .object({
    id: z.string().meta({ example: 'po_3xK9mQ2vL8nR4tY7wZ1aB5' }),
    object: z.literal('payout'),
    status: z.enum(PAYMENT_STATUSES),
    amount: z.number().int().meta({ description: 'Whole KES' }),
    currency: z.literal('KES'),
    phone: z.string().meta({ example: '254708374149' }),
    commandId: z.enum(PAYOUT_COMMANDS),
    remarks: z.string(),
    occasion: z.string().nullable(),
    reference: z.string(),
    channelId: z.string(),
    environment: z.string(),
    conversationId: z.string().nullable(),
    originatorConversationId: z.string().nullable().meta({ description: 'The payout id, sent to Daraja' }),
    mpesaReceipt: z.string().nullable(),
    receiverName: z.string().nullable().meta({ description: 'ReceiverPartyPublicName as Daraja sends it' }),
    completedAt: z.string().nullable().meta({ description: 'Completion time as Daraja sends it' }),
    resultCode: z.string().nullable(),
    resultDesc: z.string().nullable(),
    failureReason: z.enum(PAYOUT_FAILURE_REASONS).nullable(),
    reviewReason: z.enum(PAYOUT_REVIEW_REASONS).nullable(),
    callbackUrl: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    settledAt: Timestamp.nullable(),
    resolvedBy: z.enum(['reconciliation', 'manual']).nullable().meta({
      description: 'Who took it out of `needs_review`: its own reconciliation, or a manual resolution',
    }),
  })
  .meta({ id: 'Payout' });

/** Daraja's Remarks/Occasion: printable text without control characters. */
const remarkText = (min: number, what: string) =>
  z
    .string()
    .transform((s) => s.trim())
    .pipe(
      z
        .string()
        .min(min, `${what} must be at least ${min} characters`)
        .max(100, `${what} must be at most 100 characters`)
        .regex(/^[\p{L}\p{N} .,:;'"()/#&%$@!?+_-]*$/u, `${what} contains characters Daraja does not accept`),
    );

const CreatePayoutSchema = z
  .strictObject({
    phone: z
      .union([z.string(), z.number()])
      .meta({ description: 'The recipient, any Kenyan form', example: '0708374149' }),
    amount: z
      .number()
      .meta({ description: `Whole KES, ${MIN_PAYOUT_KES} to ${MAX_TRANSACTION_KES}`, example: 500 }),
    commandId: z.enum(PAYOUT_COMMANDS).default('BusinessPayment'),
    remarks: remarkText(2, 'remarks').meta({ description: 'Daraja Remarks, 2–100 characters' }),
    occasion: remarkText(1, 'occasion').optional(),
    reference: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9._-]+$/, 'reference may contain only letters, digits, dot, dash and underscore')
      .meta({ description: 'Your own reference for this payout (not sent to Daraja), ≤ 64' }),
    channelId: ChannelIdSchema.optional(),
    callbackUrl: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .max(2048)
      .optional()
      .meta({ description: 'Receives this payout’s signed webhooks' }),
    metadata: metadataSchema,
    idempotencyKey: z.string().optional().meta({ description: 'Alternative to the Idempotency-Key header' }),
  })
  .meta({ id: 'CreatePayout' });

export const createPayoutRoute = defineRoute({
  method: 'post',
  path: '/v1/payouts',
  scope: 'payouts:create',
  rateLimit: 'creation',
  summary: 'Send money to an M-Pesa customer (B2C)',
  description:
    'Starts a durable payout workflow and answers 202 with the pending payout. The B2C request is sent at most once: a request whose outcome is unknown is reconciled with Transaction Status or goes to `needs_review`, never sent again. Send `Idempotency-Key` to make retries safe.',
  tags: ['payouts'],
  request: { body: CreatePayoutSchema },
  responses: { 202: { description: 'The payout', schema: PayoutSchema } },
  errors: [
    'INVALID_PHONE_NUMBER',
    'INVALID_AMOUNT',
    'IDEMPOTENCY_KEY_IN_USE',
    'IDEMPOTENCY_KEY_MISMATCH',
    'RESOURCE_NOT_FOUND',
    'FORBIDDEN',
    'CONFLICT',
    'CHANNEL_MISCONFIGURED',
  ],
  handler: async ({ deps, auth, body, req, reply }) => {
    const key = idempotencyKeyOf(
      req.get('idempotency-key'),
      req.get('x-idempotency-key'),
      body.idempotencyKey,
    );
    const phone = normalizePhone(body.phone);
    if (!phone.ok) throw fieldError('INVALID_PHONE_NUMBER', 'phone', phone.reason);
    const amount = parseAmount(body.amount, MAX_TRANSACTION_KES);
    if (!amount.ok) throw fieldError('INVALID_AMOUNT', 'amount', amount.reason);
    if (amount.amount < MIN_PAYOUT_KES) {
      throw fieldError('INVALID_AMOUNT', 'amount', `a payout must be at least ${MIN_PAYOUT_KES} KES`);
    }
    if (body.callbackUrl !== undefined) await deps.webhooks.assertUrlAllowed(body.callbackUrl);
    const { idempotencyKey: _ignored, ...hashed } = req.body as Record<string, unknown>;
    const result = await deps.payouts.create(
      auth,
      {
        phone: phone.msisdn,
        amount: amount.amount,
        commandId: body.commandId,
        remarks: body.remarks,
        occasion: body.occasion,
        reference: body.reference,
        channelId: body.channelId,
        callbackUrl: body.callbackUrl,
        metadata: body.metadata,
      },
      key,
      hashed,
    );
    return reply(202, result.body, result.replayed ? { 'Idempotent-Replayed': 'true' } : undefined);
  },
});

export const getPayoutRoute = defineRoute({
  method: 'get',
  path: '/v1/payouts/:id',
  scope: 'payouts:read',
  summary: 'Retrieve a payout',
  tags: ['payouts'],
  request: { params: idParams('po', 'po_3xK9mQ2vL8nR4tY7wZ1aB5') },
  responses: { 200: { description: 'The payout', schema: PayoutSchema } },
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, auth, params, reply }) => reply(200, await deps.payouts.get(auth, params.id)),
});

export const listPayoutsRoute = defineRoute({
  method: 'get',
  path: '/v1/payouts',
  scope: 'payouts:read',
  summary: 'List payouts',
  description: 'Newest first. Pass `nextCursor` as `cursor` for the next page.',
  tags: ['payouts'],
  request: {
    query: z.object({
      status: z.enum(PAYMENT_STATUSES).optional(),
      reference: z.string().max(64).optional(),
      phone: z.string().max(20).optional(),
      channelId: z.string().max(80).optional(),
      limit: z.coerce.number().int().min(1).max(100).default(20),
      cursor: z.string().max(200).optional(),
    }),
  },
  responses: {
    200: {
      description: 'A page of payouts',
      schema: z.object({
        object: z.literal('list'),
        data: z.array(PayoutSchema),
        nextCursor: z.string().nullable(),
      }),
    },
  },
  handler: async ({ deps, auth, query, reply }) => {
    let phone: string | undefined;
    if (query.phone !== undefined) {
      const p = normalizePhone(query.phone);
      if (!p.ok) throw fieldError('INVALID_PHONE_NUMBER', 'phone', p.reason);
      phone = p.msisdn;
    }
    const cursor = cursorParam(query.cursor);
    const page = await deps.payouts.repo.list(auth.merchantId, auth.environment, {
      status: query.status,
      reference: query.reference,
      phone,
      channelId: query.channelId,
      cursor,
      limit: query.limit,
    });
    return reply(200, { object: 'list' as const, data: page.data, nextCursor: page.nextCursor });
  },
});

const positiveWhole = (n: number | undefined) =>
  n !== undefined && Number.isFinite(n) ? Math.round(n) : undefined;

export const payoutCallbackRoute = defineRoute({
  method: 'post',
  path: '/hooks/daraja/b2c/:payoutId/:token/:kind',
  scope: null,
  hidden: true,
  summary: 'Daraja B2C ResultURL / QueueTimeOutURL, and the payout’s Transaction Status ResultURL',
  tags: ['hooks'],
  request: {
    params: z.object({
      payoutId: z.string().max(80),
      token: z.string().max(80),
      kind: z.enum(PAYOUT_CALLBACK_KINDS),
    }),
    body: z.unknown(),
  },
  responses: darajaAckResponses,
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, params, body, req, reply }) => {
    const hook = await readAsyncResultHook(
      req,
      deps,
      { purpose: 'b2c', idKey: 'payoutId', id: params.payoutId, token: params.token, kind: params.kind },
      body,
    );
    if (!hook) return reply(200, DARAJA_ACK);
    const { clean, result: r, common } = hook;
    let outcome: 'signalled' | 'inbox';
    if (params.kind === 'status') {
      const d = transactionStatusDetails(r);
      outcome = await deps.payouts.deliver(
        params.payoutId,
        {
          kind: 'status',
          value: {
            ...common,
            transactionStatus: d.status,
            receipt: d.receipt,
            amount: positiveWhole(d.amount),
            receiverName: d.creditPartyName,
            completedAt: d.finalisedTime,
          },
        },
        clean,
      );
    } else {
      const d = b2cResultDetails(r);
      outcome = await deps.payouts.deliver(
        params.payoutId,
        {
          kind: 'result',
          value: {
            ...common,
            kind: params.kind === 'timeout' ? 'queue_timeout' : 'result',
            ...(r.originatorConversationId ? { originatorConversationId: r.originatorConversationId } : {}),
            receipt: r.success ? d.receipt : undefined,
            amount: positiveWhole(d.amount),
            receiverName: d.receiverPublicName,
            completedAt: d.completedAt,
          },
        },
        clean,
      );
    }
    req.log?.info(
      { payoutId: params.payoutId, kind: params.kind, resultCode: r.resultCode, outcome },
      'b2c callback',
    );
    return reply(200, DARAJA_ACK);
  },
});

export const payoutRoutes = [createPayoutRoute, getPayoutRoute, listPayoutsRoute, payoutCallbackRoute];
