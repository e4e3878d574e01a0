/**
 * /v1/payment-links: shareable pay pages (`url`, served at /pay/:id) that start ordinary STK payments
 * tagged with the link id. Stats come from the payments table; disabling keeps the link and its payments.
 */
import { z } from 'zod';
import { SAFE_TEXT } from '../../daraja/transformers';
import { MalipoError } from '../../domain/errors';
import { MAX_TRANSACTION_KES } from '../../domain/money';
import type { PaymentLink } from '../../links/links';
import { linksOf } from '../../links/router';
import { defineRoute } from '../route';
import { boundedDateTime, ChannelIdSchema, cursorParam, idParams, iso, Timestamp } from '../schemas';

const Kes = z.number().int('must be whole KES').min(1, 'must be at least 1 KES').max(MAX_TRANSACTION_KES);

const AmountSchema = z
  .union([
    Kes.meta({ description: 'A fixed amount, whole KES', example: 1500 }),
    z
      .strictObject({ min: Kes, max: Kes })
      .refine((a) => a.min <= a.max, { message: 'min must not be above max', path: ['max'] })
      .meta({ description: 'The customer enters an amount between min and max (whole KES)' }),
  ])
  .meta({ id: 'PaymentLinkAmount' });

const Title = z.string().trim().min(1, 'title must not be empty').max(100);
const Reference = z
  .string()
  .trim()
  .min(1)
  .max(12, 'reference must be at most 12 characters')
  .regex(SAFE_TEXT, 'reference may contain only letters, digits, spaces, dot, dash and underscore')
  .meta({ description: 'AccountReference on the M-Pesa prompt, ≤ 12; default from the title' });
const Description = z.string().trim().max(500);
const LogoUrl = z
  .url({ protocol: /^https$/, error: 'must be an https URL' })
  .max(2048)
  .meta({
    description: 'An https image; the page loads it directly (its origin is allowed by the CSP img-src)',
  });
const MaxPayments = z.number().int().min(1).max(1_000_000);

const PaymentLinkSchema = z
  .object({
    id: z.string().meta({ example: 'lnk_7Hq2mX9pL4vR8sT1wY3zK6' }),
    object: z.literal('payment_link'),
    url: z.string().meta({
      description: 'The hosted pay page to share',
      example: 'https://pay.example.com/pay/lnk_7Hq2mX9pL4vR8sT1wY3zK6',
    }),
    title: z.string(),
    description: z.string().nullable(),
    reference: z.string(),
    amount: AmountSchema,
    logoUrl: z.string().nullable(),
    expiresAt: Timestamp.nullable(),
    maxPayments: z
      .number()
      .int()
      .nullable()
      .meta({ description: 'Successful payments after which the link closes' }),
    channelId: z.string().nullable().meta({ description: 'null: the default channel at payment time' }),
    environment: z.enum(['test', 'live']),
    status: z
      .enum(['active', 'disabled', 'expired', 'exhausted'])
      .meta({ description: '`exhausted`: maxPayments successful payments reached' }),
    stats: z.object({
      payments: z.number().int().meta({ description: 'Payments started through the link, any status' }),
      successfulPayments: z.number().int(),
      amountCollected: z.number().int().meta({ description: 'Whole KES of successful payments' }),
    }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: 'PaymentLink' });

const CreatePaymentLinkSchema = z
  .strictObject({
    title: Title.meta({ description: 'Shown as the page heading', example: 'Order 1042' }),
    amount: AmountSchema,
    reference: Reference.optional(),
    description: Description.optional(),
    logoUrl: LogoUrl.optional(),
    expiresAt: boundedDateTime().optional(),
    maxPayments: MaxPayments.optional(),
    channelId: ChannelIdSchema.optional(),
  })
  .meta({ id: 'CreatePaymentLink' });

const UpdatePaymentLinkSchema = z
  .strictObject({
    title: Title.optional(),
    amount: AmountSchema.optional(),
    reference: Reference.optional(),
    description: Description.nullable().optional(),
    logoUrl: LogoUrl.nullable().optional(),
    expiresAt: boundedDateTime().nullable().optional(),
    maxPayments: MaxPayments.nullable().optional(),
    channelId: ChannelIdSchema.nullable().optional(),
    status: z.enum(['active', 'disabled']).optional(),
  })
  .meta({
    id: 'UpdatePaymentLink',
    description: 'Only the fields sent change; null clears an optional field.',
  });

const LinkParams = idParams('lnk', 'lnk_7Hq2mX9pL4vR8sT1wY3zK6');

function linkBody(l: PaymentLink): z.input<typeof PaymentLinkSchema> {
  const { merchantId: _m, expiresAt, createdAt, updatedAt, ...rest } = l;
  return {
    ...rest,
    object: 'payment_link',
    expiresAt: expiresAt ? iso(expiresAt) : null,
    createdAt: iso(createdAt),
    updatedAt: iso(updatedAt),
  };
}

const date = (s: string | null | undefined) =>
  s === undefined ? undefined : s === null ? null : new Date(s);

export const createPaymentLinkRoute = defineRoute({
  method: 'post',
  path: '/v1/payment-links',
  scope: 'links:manage',
  summary: 'Create a payment link',
  description:
    'Answers the link with its `url` (`/pay/lnk_…`, an unguessable id of ≈131 bits). Payments made on the page are ordinary payments with `linkId` set.',
  tags: ['payment-links'],
  request: { body: CreatePaymentLinkSchema },
  responses: { 201: { description: 'Created', schema: PaymentLinkSchema } },
  errors: ['RESOURCE_NOT_FOUND', 'FORBIDDEN', 'CONFLICT'],
  handler: async ({ deps, auth, body, actor, reply }) => {
    const links = linksOf(deps);
    const link = await links.create(auth, { ...body, expiresAt: date(body.expiresAt) ?? undefined }, actor);
    return reply(201, linkBody(link));
  },
});

export const listPaymentLinksRoute = defineRoute({
  method: 'get',
  path: '/v1/payment-links',
  scope: 'links:manage',
  summary: 'List payment links',
  description: 'Newest first, each with its stats. Pass `nextCursor` as `cursor` for the next page.',
  tags: ['payment-links'],
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(100).default(20),
      cursor: z.string().max(200).optional(),
    }),
  },
  responses: {
    200: {
      description: 'A page of links',
      schema: z.object({
        object: z.literal('list'),
        data: z.array(PaymentLinkSchema),
        nextCursor: z.string().nullable(),
      }),
    },
  },
  handler: async ({ deps, auth, query, reply }) => {
    const cursor = cursorParam(query.cursor);
    const page = await linksOf(deps).list(auth, { limit: query.limit, cursor });
    return reply(200, {
      object: 'list' as const,
      data: page.data.map(linkBody),
      nextCursor: page.nextCursor,
    });
  },
});

export const getPaymentLinkRoute = defineRoute({
  method: 'get',
  path: '/v1/payment-links/:id',
  scope: 'links:manage',
  summary: 'Retrieve a payment link',
  description: 'With its stats: payments started, successful payments and KES collected.',
  tags: ['payment-links'],
  request: { params: LinkParams },
  responses: { 200: { description: 'The link', schema: PaymentLinkSchema } },
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, auth, params, reply }) => {
    return reply(200, linkBody(await linksOf(deps).get(auth, params.id)));
  },
});

export const updatePaymentLinkRoute = defineRoute({
  method: 'patch',
  path: '/v1/payment-links/:id',
  scope: 'links:manage',
  summary: 'Update a payment link',
  description: '`status: "active"` turns a disabled link back on. Payments already made keep their amount.',
  tags: ['payment-links'],
  request: { params: LinkParams, body: UpdatePaymentLinkSchema },
  responses: { 200: { description: 'The updated link', schema: PaymentLinkSchema } },
  errors: ['RESOURCE_NOT_FOUND', 'FORBIDDEN', 'CONFLICT'],
  handler: async ({ deps, auth, params, body, actor, reply }) => {
    if (body.expiresAt && new Date(body.expiresAt).getTime() <= Date.now()) {
      throw new MalipoError('VALIDATION_ERROR', 'The payment link is invalid', {
        details: [{ path: 'expiresAt', message: 'must be in the future', code: 'custom' }],
      });
    }
    const link = await linksOf(deps).update(
      auth,
      params.id,
      { ...body, expiresAt: date(body.expiresAt) },
      actor,
    );
    return reply(200, linkBody(link));
  },
});

export const disablePaymentLinkRoute = defineRoute({
  method: 'post',
  path: '/v1/payment-links/:id/disable',
  scope: 'links:manage',
  summary: 'Disable a payment link',
  description: 'The page then answers 410 and takes no payment. Idempotent; PATCH `status` turns it back on.',
  tags: ['payment-links'],
  request: { params: LinkParams },
  responses: { 200: { description: 'The disabled link', schema: PaymentLinkSchema } },
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, auth, params, actor, reply }) => {
    return reply(200, linkBody(await linksOf(deps).disable(auth, params.id, actor)));
  },
});

export const paymentLinkRoutes = [
  createPaymentLinkRoute,
  listPaymentLinksRoute,
  getPaymentLinkRoute,
  updatePaymentLinkRoute,
  disablePaymentLinkRoute,
];
