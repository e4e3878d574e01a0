/**
 * /v1/payments: STK push payments. Creation is idempotent (Idempotency-Key) and answers 202 with
 * Daraja's CheckoutRequestID once Daraja has accepted the push; reads come from the database.
 * /hooks/daraja/stk/:paymentId/:token is Daraja's CallBackURL.
 */
import { z } from 'zod';
import { parseStkCallback } from '../../daraja/callbacks';
import { MalipoError } from '../../domain/errors';
import { MAX_TRANSACTION_KES, parseAmount } from '../../domain/money';
import { FAILURE_REASONS, PAYMENT_STATUSES } from '../../domain/payment';
import { normalizePhone } from '../../domain/phone';
import { isValidIdempotencyKey } from '../../payments/idempotency';
import { type PaymentView, withoutNul } from '../../payments/repository';
import { assertHookToken, DARAJA_ACK, darajaAckResponses } from '../hooks';
import { defineRoute } from '../route';
import {
  ChannelIdSchema,
  cursorParam,
  dateFilter,
  fromNotAfterTo,
  idParams,
  jsonDepth,
  safeText,
  Timestamp,
} from '../schemas';

const METADATA_MAX_KEYS = 20;
const METADATA_MAX_BYTES = 2048;
/** `{"a":{"b":1}}` is 2 levels. */
const METADATA_MAX_DEPTH = 5;

export const PaymentSchema = z
  .object({
    id: z.string().meta({ example: 'pay_3xK9mQ2vL8nR4tY7wZ1aB5' }),
    object: z.literal('payment'),
    kind: z.string().meta({
      description:
        '`stk` for payments Malipo started, `c2b` for payments customers made unprompted to the paybill or till',
    }),
    status: z.enum(PAYMENT_STATUSES),
    amount: z.number().int().meta({ description: 'Whole KES' }),
    currency: z.literal('KES'),
    phone: z.string().meta({ example: '254708374149' }),
    reference: z.string(),
    description: z.string(),
    channelId: z.string(),
    environment: z.string(),
    checkoutRequestId: z.string().nullable(),
    merchantRequestId: z.string().nullable(),
    mpesaReceipt: z.string().nullable(),
    transactionDate: z.string().nullable().meta({ description: 'YYYYMMDDHHmmss, Nairobi time, from Daraja' }),
    resultCode: z.string().nullable(),
    resultDesc: z.string().nullable(),
    failureReason: z.enum(FAILURE_REASONS).nullable(),
    reviewReason: z.string().nullable(),
    callbackUrl: z.string().nullable(),
    linkId: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    settledAt: Timestamp.nullable(),
    resolvedBy: z.enum(['reconciliation', 'manual']).nullable().meta({
      description: 'Who took it out of `needs_review`: its own reconciliation, or a manual resolution',
    }),
    matchedC2bPaymentId: z.string().nullable().meta({
      description: 'The `c2b` payment reconciliation matched to it (the customer paid the paybill directly)',
    }),
  })
  .meta({ id: 'Payment' });

/**
 * Merchant metadata on a payment or payout: echoed back, never interpreted. The depth is checked before
 * the size, because measuring the size serialises the value, which throws on a deeply nested one.
 */
export const metadataSchema = z
  .record(z.string().max(64), z.unknown())
  .optional()
  .superRefine((m, ctx) => {
    if (m === undefined) return;
    if (Object.keys(m).length > METADATA_MAX_KEYS) {
      ctx.addIssue({ code: 'custom', message: `metadata may have at most ${METADATA_MAX_KEYS} keys` });
    }
    if (jsonDepth(m, METADATA_MAX_DEPTH) > METADATA_MAX_DEPTH) {
      ctx.addIssue({
        code: 'custom',
        message: `metadata may nest objects and arrays at most ${METADATA_MAX_DEPTH} levels deep`,
      });
      return;
    }
    if (Buffer.byteLength(JSON.stringify(m)) > METADATA_MAX_BYTES) {
      ctx.addIssue({
        code: 'custom',
        message: `metadata must be at most ${METADATA_MAX_BYTES} bytes as JSON`,
      });
    }
  })
  .meta({
    description: `Echoed back on the resource and its webhooks; ≤ ${METADATA_MAX_KEYS} keys, ≤ ${METADATA_MAX_DEPTH} levels (the object itself is one), ≤ 2 KiB`,
  });

const CreateStkPushSchema = z
  .strictObject({
    phone: z
      .union([z.string(), z.number()])
      .meta({ description: 'Any Kenyan form: 07…, 01…, 2547…, +2547…, 2541…', example: '0708374149' }),
    amount: z.number().meta({ description: 'Whole KES, 1 to the channel maximum (250,000)', example: 100 }),
    reference: safeText(12, 'reference')
      .optional()
      .meta({ description: 'AccountReference shown on the prompt, ≤ 12' }),
    accountReference: safeText(12, 'accountReference')
      .optional()
      .meta({ description: 'Alias of `reference`' }),
    description: safeText(13, 'description')
      .optional()
      .meta({ description: 'TransactionDesc, ≤ 13; default "Payment"' }),
    channelId: ChannelIdSchema.optional(),
    callbackUrl: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .max(2048)
      .optional()
      .meta({ description: 'Receives this payment’s signed webhooks' }),
    metadata: metadataSchema,
    idempotencyKey: z.string().optional().meta({ description: 'Alternative to the Idempotency-Key header' }),
  })
  .meta({ id: 'CreateStkPush' });

export function idempotencyKeyOf(
  header: string | undefined,
  altHeader: string | undefined,
  body?: string,
): string | undefined {
  const key = header ?? altHeader ?? body;
  if (key === undefined) return undefined;
  if (!isValidIdempotencyKey(key)) {
    throw new MalipoError('VALIDATION_ERROR', 'The Idempotency-Key is invalid', {
      details: [
        {
          path: 'Idempotency-Key',
          message: 'must be 1-255 printable characters without spaces',
          code: 'custom',
        },
      ],
    });
  }
  return key;
}

export const fieldError = (code: 'INVALID_PHONE_NUMBER' | 'INVALID_AMOUNT', path: string, message: string) =>
  new MalipoError(code, message, { details: [{ path, message, code: code.toLowerCase() }] });

export const createStkPushRoute = defineRoute({
  method: 'post',
  path: '/v1/payments/stk-push',
  scope: 'payments:create',
  rateLimit: 'creation',
  summary: 'Start an STK push payment',
  description:
    'Starts a durable payment workflow. Answers 202 with the payment; `checkoutRequestId` is set once Daraja accepted the push (within a few seconds), otherwise the payment is `pending` without it. Send `Idempotency-Key` to make retries safe.',
  tags: ['payments'],
  request: { body: CreateStkPushSchema },
  responses: { 202: { description: 'The payment, pending or already decided', schema: PaymentSchema } },
  errors: [
    'INVALID_PHONE_NUMBER',
    'INVALID_AMOUNT',
    'IDEMPOTENCY_KEY_IN_USE',
    'IDEMPOTENCY_KEY_MISMATCH',
    'RESOURCE_NOT_FOUND',
    'FORBIDDEN',
    'CONFLICT',
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
    const reference = body.reference ?? body.accountReference;
    if (!reference) {
      throw new MalipoError('VALIDATION_ERROR', 'The request body is invalid', {
        details: [
          { path: 'reference', message: 'reference is required (≤ 12 characters)', code: 'invalid_type' },
        ],
      });
    }
    const { idempotencyKey: _ignored, ...hashed } = req.body as Record<string, unknown>;
    // the SSRF guard, as for webhook endpoints: VALIDATION_ERROR with the reason
    if (body.callbackUrl !== undefined) await deps.webhooks.assertUrlAllowed(body.callbackUrl);
    const result = await deps.payments.createStk(
      auth,
      {
        phone: phone.msisdn,
        amount: amount.amount,
        reference,
        description: body.description ?? 'Payment',
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

const PaymentParams = idParams('pay', 'pay_3xK9mQ2vL8nR4tY7wZ1aB5');

export const getPaymentRoute = defineRoute({
  method: 'get',
  path: '/v1/payments/:id',
  scope: 'payments:read',
  summary: 'Retrieve a payment',
  description: '`?refresh=true` on a pending payment asks Daraja now (an STK query through the workflow).',
  tags: ['payments'],
  request: {
    params: PaymentParams,
    query: z.object({ refresh: z.enum(['true', 'false']).optional() }),
  },
  responses: { 200: { description: 'The payment', schema: PaymentSchema } },
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, auth, params, query, reply }) => {
    const view: PaymentView =
      query.refresh === 'true'
        ? await deps.payments.refresh(auth, params.id)
        : await deps.payments.get(auth, params.id);
    return reply(200, view);
  },
});

export const ListQuery = z
  .object({
    status: z.enum(PAYMENT_STATUSES).optional(),
    reference: z.string().max(64).optional(),
    phone: z.string().max(20).optional(),
    channelId: z.string().max(80).optional(),
    linkId: z.string().max(80).optional(),
    kind: z.enum(['stk', 'c2b']).optional(),
    from: dateFilter('Created at or after').optional(),
    to: dateFilter('Created before (exclusive)').optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(200).optional(),
    /** A payment id (`pay_…`) or an M-Pesa receipt. */
    search: z.string().trim().max(64).optional(),
  })
  .superRefine(fromNotAfterTo);

export const listPaymentsRoute = defineRoute({
  method: 'get',
  path: '/v1/payments',
  scope: 'payments:read',
  summary: 'List payments',
  description: 'Newest first. Pass `nextCursor` as `cursor` for the next page.',
  tags: ['payments'],
  request: { query: ListQuery },
  responses: {
    200: {
      description: 'A page of payments',
      schema: z.object({
        object: z.literal('list'),
        data: z.array(PaymentSchema),
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
    const page = await deps.payments.repo.list(auth.merchantId, auth.environment, {
      status: query.status,
      reference: query.reference,
      phone,
      channelId: query.channelId,
      linkId: query.linkId,
      kind: query.kind,
      from: query.from,
      to: query.to,
      search: query.search || undefined,
      cursor,
      limit: query.limit,
    });
    return reply(200, { object: 'list' as const, data: page.data, nextCursor: page.nextCursor });
  },
});

export const stkCallbackRoute = defineRoute({
  method: 'post',
  path: '/hooks/daraja/stk/:paymentId/:token',
  scope: null,
  hidden: true,
  summary: 'Daraja STK callback (CallBackURL)',
  tags: ['hooks'],
  request: {
    params: z.object({ paymentId: z.string().max(80), token: z.string().max(80) }),
    body: z.unknown(),
  },
  responses: darajaAckResponses,
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, params, body, req, reply }) => {
    assertHookToken(req, deps.callbackSecret, 'stk', params.paymentId, params.token);
    // NUL cannot be stored (text/jsonb) and is never in a genuine callback: keep it visible as U+FFFD
    const clean = withoutNul(body);
    const parsed = parseStkCallback(clean);
    if (!parsed.ok) {
      await deps.payments.repo.toInbox(
        'stk',
        params.paymentId,
        clean,
        `unparseable callback: ${parsed.error}`,
      );
      req.log?.warn({ paymentId: params.paymentId }, 'unparseable stk callback kept in the inbox');
      return reply(200, DARAJA_ACK);
    }
    const outcome = await deps.payments.deliverCallback(params.paymentId, parsed.value, clean);
    req.log?.info(
      { paymentId: params.paymentId, resultCode: parsed.value.resultCode, outcome },
      'stk callback',
    );
    return reply(200, DARAJA_ACK);
  },
});

export const paymentRoutes = [createStkPushRoute, getPaymentRoute, listPaymentsRoute, stkCallbackRoute];
