/**
 * Daraja lookups: GET /v1/balance (Account Balance) and POST /v1/transactions/status (Transaction
 * Status) run a short workflow and wait for Daraja's Result; POST /v1/qr generates a Dynamic QR code
 * synchronously. /hooks/daraja/lookup/:lookupId/:token is the lookups' ResultURL and QueueTimeOutURL.
 */
import { z } from 'zod';
import { MalipoError } from '../../domain/errors';
import { MAX_TRANSACTION_KES, parseAmount } from '../../domain/money';
import { withoutNul } from '../../payments/repository';
import { generateQrCode, MERCHANT_NAME_MAX } from '../../lookups/qr';
import { lookupServiceOf } from '../../lookups/service';
import { assertHookToken, DARAJA_ACK, darajaAckResponses } from '../hooks';
import { defineRoute } from '../route';
import { channelPolicyOf } from './channels';
import { Timestamp, ChannelIdSchema, safeText } from '../schemas';

const Kes = z.string().meta({ description: 'KES with two decimals, as a string', example: '900000.00' });

export const BalanceSchema = z
  .object({
    object: z.literal('balance'),
    lookupId: z.string().meta({ example: 'lkp_3xK9mQ2vL8nR4tY7wZ1aB5', description: 'The workflow id' }),
    channelId: z.string(),
    accounts: z.array(
      z.object({
        name: z.string().meta({ example: 'Working Account' }),
        currency: z.string().meta({ example: 'KES' }),
        available: Kes,
        uncleared: Kes,
        reserved: Kes,
      }),
    ),
    completedAt: Timestamp.meta({ description: 'When M-Pesa read the balances (BOCompletedTime)' }),
  })
  .meta({ id: 'Balance' });

export const getBalanceRoute = defineRoute({
  method: 'get',
  path: '/v1/balance',
  scope: 'balance:read',
  summary: 'Read the channel’s M-Pesa account balances',
  description:
    'Sends Daraja’s Account Balance request (a short workflow) and waits for its Result, at most `MALIPO_LOOKUP_WAIT_MS` (30 s by default). ' +
    'The channel needs an initiator name and password. Amounts are strings with two decimals. ' +
    'A refusal by Daraja (e.g. 2001, wrong initiator credentials) is 502 UPSTREAM_ERROR with Daraja’s code in `details`; no Result in time is 504 UPSTREAM_TIMEOUT.',
  tags: ['lookups'],
  request: { query: z.object({ channelId: ChannelIdSchema.optional() }) },
  responses: { 200: { description: 'The balances', schema: BalanceSchema } },
  errors: [
    'RESOURCE_NOT_FOUND',
    'FORBIDDEN',
    'CONFLICT',
    'CHANNEL_MISCONFIGURED',
    'UPSTREAM_ERROR',
    'SERVICE_UNAVAILABLE',
    'UPSTREAM_TIMEOUT',
  ],
  handler: async ({ deps, auth, query, reply }) => {
    return reply(200, await lookupServiceOf(deps).balance(auth, query.channelId));
  },
});

const RECEIPT = /^[A-Z0-9]{10}$/;

const TransactionStatusRequestSchema = z
  .strictObject({
    receipt: z
      .string()
      .regex(RECEIPT, 'must be an M-Pesa receipt: 10 uppercase letters and digits')
      .optional()
      .meta({ example: 'UKM8EOG5BS' }),
    originatorConversationId: z
      .string()
      .regex(/^[\w-]{1,64}$/, 'must be 1-64 letters, digits, dash or underscore')
      .optional()
      .meta({ description: 'The OriginatorConversationID of an earlier async request (e.g. a B2C payout)' }),
    channelId: ChannelIdSchema.optional(),
  })
  .refine((b) => (b.receipt === undefined) !== (b.originatorConversationId === undefined), {
    message: 'give exactly one of receipt and originatorConversationId',
    path: ['receipt'],
  })
  .meta({ id: 'TransactionStatusRequest' });

const nullableString = z.string().nullable();

export const TransactionStatusSchema = z
  .object({
    object: z.literal('transaction_status'),
    lookupId: z.string(),
    channelId: z.string(),
    found: z
      .boolean()
      .meta({ description: 'False when Daraja answered with a non-zero ResultCode (see resultCode)' }),
    status: nullableString.meta({ description: 'Daraja’s TransactionStatus, e.g. `Completed`' }),
    receipt: nullableString,
    amount: z.number().nullable().meta({ description: 'KES, as Daraja reports it' }),
    debitPartyName: nullableString,
    creditPartyName: nullableString,
    initiatedAt: Timestamp.nullable(),
    finalisedAt: Timestamp.nullable(),
    reasonType: nullableString,
    resultCode: z.string(),
    resultDesc: z.string(),
  })
  .meta({ id: 'TransactionStatus' });

export const transactionStatusRoute = defineRoute({
  method: 'post',
  path: '/v1/transactions/status',
  scope: 'payments:read',
  summary: 'Ask M-Pesa for the status of a transaction',
  description:
    'Sends Daraja’s Transaction Status request for a receipt (or an OriginatorConversationID) and waits for its Result. ' +
    'A Result with a non-zero ResultCode is a valid answer: 200 with `found: false`. ' +
    'An initiator problem (2001, 8006, 21) or a refused request is 502 UPSTREAM_ERROR; no Result in time is 504 UPSTREAM_TIMEOUT.',
  tags: ['lookups'],
  request: { body: TransactionStatusRequestSchema },
  responses: { 200: { description: 'Daraja’s answer', schema: TransactionStatusSchema } },
  errors: [
    'RESOURCE_NOT_FOUND',
    'FORBIDDEN',
    'CONFLICT',
    'CHANNEL_MISCONFIGURED',
    'UPSTREAM_ERROR',
    'SERVICE_UNAVAILABLE',
    'UPSTREAM_TIMEOUT',
  ],
  handler: async ({ deps, auth, body, reply }) => {
    const query = body.receipt
      ? { receipt: body.receipt }
      : { originatorConversationId: body.originatorConversationId! };
    return reply(200, await lookupServiceOf(deps).transactionStatus(auth, query, body.channelId));
  },
});

const QrRequestSchema = z
  .strictObject({
    amount: z.number().meta({ description: 'Whole KES, 1 to 250,000', example: 500 }),
    reference: safeText(12, 'reference').meta({
      description: 'RefNo: shown to the customer, ≤ 12 characters',
      example: 'INV0042',
    }),
    channelId: ChannelIdSchema.optional(),
    size: z.number().int().min(50).max(2000).default(300).meta({ description: 'Pixels (square), 50-2000' }),
    kind: z
      .enum(['paybill', 'buy_goods'])
      .optional()
      .meta({ description: 'Default: buy_goods for a till channel, paybill for a paybill channel' }),
    merchantName: safeText(MERCHANT_NAME_MAX, 'merchantName')
      .optional()
      .meta({ description: 'Default: the merchant’s name' }),
  })
  .meta({ id: 'QrRequest' });

export const QrSchema = z
  .object({
    object: z.literal('qr'),
    format: z.literal('png'),
    base64: z.string().meta({ description: 'The PNG image, base64' }),
    requestId: z.string().meta({ description: 'Daraja’s RequestID' }),
    channelId: z.string(),
    kind: z.enum(['paybill', 'buy_goods']),
    amount: z.number().int(),
    reference: z.string(),
    size: z.number().int(),
  })
  .meta({ id: 'Qr' });

export const createQrRoute = defineRoute({
  method: 'post',
  path: '/v1/qr',
  scope: 'payments:create',
  summary: 'Generate an M-Pesa Dynamic QR code',
  description:
    'Calls Daraja’s Dynamic QR API. The customer scans it in the M-Pesa app to pay the channel’s till (buy goods) or paybill. ' +
    'Send `Accept: image/png` to receive the image itself; otherwise the answer is JSON with the PNG in base64.',
  tags: ['lookups'],
  request: { body: QrRequestSchema },
  responses: {
    200: {
      description: 'The QR code',
      schema: QrSchema,
      binary: { 'image/png': 'The QR code image (when Accept prefers image/png)' },
    },
  },
  errors: ['INVALID_AMOUNT', 'RESOURCE_NOT_FOUND', 'FORBIDDEN', 'CONFLICT', 'UPSTREAM_ERROR'],
  handler: async ({ deps, auth, body, req, reply }) => {
    const amount = parseAmount(body.amount, MAX_TRANSACTION_KES);
    if (!amount.ok) {
      throw new MalipoError('INVALID_AMOUNT', amount.reason, {
        details: [{ path: 'amount', message: amount.reason, code: 'invalid_amount' }],
      });
    }
    const qr = await generateQrCode(
      {
        db: deps.db,
        box: deps.secretBox,
        darajaTimeoutMs: deps.config.MALIPO_DARAJA_TIMEOUT_MS,
        channelPolicy: channelPolicyOf(deps),
      },
      auth,
      {
        amount: amount.amount,
        reference: body.reference,
        channelId: body.channelId,
        size: body.size,
        kind: body.kind,
        merchantName: body.merchantName,
      },
    );
    if (req.accepts(['application/json', 'image/png']) === 'image/png') {
      return {
        status: 200,
        body: undefined,
        headers: { 'Cache-Control': 'no-store' },
        binary: { contentType: 'image/png', data: Buffer.from(qr.base64, 'base64') },
      };
    }
    return reply(200, { object: 'qr' as const, format: 'png' as const, ...qr });
  },
});

export const lookupResultRoute = defineRoute({
  method: 'post',
  path: '/hooks/daraja/lookup/:lookupId/:token',
  scope: null,
  hidden: true,
  summary: 'Daraja Result of a balance or status lookup (ResultURL, QueueTimeOutURL)',
  tags: ['hooks'],
  request: {
    params: z.object({ lookupId: z.string().max(80), token: z.string().max(80) }),
    body: z.unknown(),
  },
  responses: darajaAckResponses,
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, params, body, req, reply }) => {
    assertHookToken(req, deps.callbackSecret, 'lookup', params.lookupId, params.token);
    const outcome = await lookupServiceOf(deps).deliverResult(params.lookupId, withoutNul(body));
    req.log?.info({ lookupId: params.lookupId, outcome }, 'lookup Result');
    return reply(200, DARAJA_ACK);
  },
});

export const lookupRoutes = [getBalanceRoute, transactionStatusRoute, createQrRoute, lookupResultRoute];
