/**
 * GET /v1/payment-links/:id/stats: one link's payments aggregated in SQL (count per status, KES paid,
 * conversion), for the dashboard's link page and for integrations. Only the caller's merchant and
 * environment: another merchant's link is a 404, like every other link route.
 */
import { sql } from 'kysely';
import { z } from 'zod';
import { notFound } from '../../domain/errors';
import { defineRoute } from '../route';
import { idParams, iso, Timestamp } from '../schemas';

export const PaymentLinkStatsSchema = z
  .object({
    object: z.literal('payment_link_stats'),
    linkId: z.string(),
    payments: z.number().int().meta({ description: 'Payments started through the link, any status' }),
    paid: z.number().int().meta({ description: 'Payments with status `success`' }),
    paidAmount: z.number().int().meta({ description: 'Whole KES of the successful payments' }),
    pending: z.number().int(),
    failed: z.number().int(),
    needsReview: z.number().int(),
    conversion: z
      .number()
      .nullable()
      .meta({ description: '`paid / payments`, 0 to 1 (4 decimals); null before the first payment' }),
    lastPaidAt: Timestamp.nullable().meta({ description: 'When the latest successful payment was created' }),
  })
  .meta({ id: 'PaymentLinkStats' });

export type PaymentLinkStats = z.output<typeof PaymentLinkStatsSchema>;

export const paymentLinkStatsRoute = defineRoute({
  method: 'get',
  path: '/v1/payment-links/:id/stats',
  scope: 'links:manage',
  summary: "A payment link's stats",
  description:
    'Counts of the payments started through the link by status, the KES paid and the conversion (paid / started), from one aggregate query.',
  tags: ['payment-links'],
  request: { params: idParams('lnk', 'lnk_7Hq2mX9pL4vR8sT1wY3zK6') },
  responses: { 200: { description: 'The stats', schema: PaymentLinkStatsSchema } },
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, auth, params, reply }) => {
    const link = await deps.db
      .selectFrom('payment_links')
      .select('id')
      .where('id', '=', params.id)
      .where('merchant_id', '=', auth.merchantId)
      .where('environment', '=', auth.environment)
      .executeTakeFirst();
    if (!link) throw notFound('Payment link');
    const row = await deps.db
      .selectFrom('payments')
      .select([
        sql<string>`count(*)`.as('payments'),
        sql<string>`count(*) filter (where status = 'success')`.as('paid'),
        sql<string>`coalesce(sum(amount) filter (where status = 'success'), 0)`.as('paid_amount'),
        sql<string>`count(*) filter (where status = 'pending')`.as('pending'),
        sql<string>`count(*) filter (where status = 'failed')`.as('failed'),
        sql<string>`count(*) filter (where status = 'needs_review')`.as('needs_review'),
        sql<Date | string | null>`max(created_at) filter (where status = 'success')`.as('last_paid_at'),
      ])
      .where('link_id', '=', link.id)
      .where('merchant_id', '=', auth.merchantId)
      .where('environment', '=', auth.environment)
      .executeTakeFirstOrThrow();
    const payments = Number(row.payments);
    const paid = Number(row.paid);
    return reply(200, {
      object: 'payment_link_stats' as const,
      linkId: link.id,
      payments,
      paid,
      paidAmount: Number(row.paid_amount),
      pending: Number(row.pending),
      failed: Number(row.failed),
      needsReview: Number(row.needs_review),
      conversion: payments === 0 ? null : Math.round((paid / payments) * 10_000) / 10_000,
      lastPaidAt: row.last_paid_at === null ? null : iso(new Date(row.last_paid_at)),
    });
  },
});

export const paymentLinkStatsRoutes = [paymentLinkStatsRoute];
