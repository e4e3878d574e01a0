/**
 * /v1/reports: aggregates and exports over the payments of the key's merchant and environment.
 * GET /v1/reports/summary        today, last 7 and 30 days (Nairobi days), a 30-day daily series, open counts
 * GET /v1/reports/payments.csv   every payment matching the list filters, as streamed CSV
 * Both read through the (merchant_id, created_at) index, so they stay fast with many payments.
 */
import { sql } from 'kysely';
import { z } from 'zod';
import type { Db } from '../../db';
import { normalizePhone } from '../../domain/phone';
import type { PaymentFilter } from '../../payments/repository';
import type { PaymentRepository } from '../../payments/repository';
import type { AuthContext } from '../../platform/scopes';
import { defineRoute } from '../route';
import { Timestamp } from '../schemas';
import { fieldError, ListQuery } from './payments';

const DAY_MS = 24 * 3600_000;
/** Kenya keeps East Africa Time (UTC+3) all year, so a Nairobi day is a fixed UTC window. */
const NAIROBI_OFFSET_MS = 3 * 3600_000;

/** The UTC instant of 00:00 in Nairobi on the day `at` falls on. */
export function nairobiMidnight(at: Date): Date {
  return new Date(Math.floor((at.getTime() + NAIROBI_OFFSET_MS) / DAY_MS) * DAY_MS - NAIROBI_OFFSET_MS);
}

const Period = z.object({
  volume: z.number().int().meta({ description: 'Whole KES received: the sum of successful payments' }),
  count: z.number().int().meta({ description: 'Payments started' }),
  succeeded: z.number().int(),
  failed: z.number().int(),
  successRate: z
    .number()
    .min(0)
    .max(1)
    .nullable()
    .meta({ description: 'succeeded / (succeeded + failed); null while none is decided' }),
});
type PeriodOut = z.infer<typeof Period>;

export const SummarySchema = z
  .object({
    object: z.literal('payment_summary'),
    environment: z.string(),
    timezone: z.literal('Africa/Nairobi'),
    generatedAt: Timestamp,
    today: Period,
    last7Days: Period,
    last30Days: Period,
    daily: z.array(Period.extend({ date: z.string().meta({ example: '2026-12-02' }) })).meta({
      description: 'The last 30 Nairobi days, oldest first, today last; days without payments are zeros',
    }),
    pending: z.number().int().meta({ description: 'Payments now pending (any age)' }),
    needsReview: z.number().int().meta({ description: 'Payments now needing review (any age)' }),
  })
  .meta({ id: 'PaymentSummary' });
export type Summary = z.infer<typeof SummarySchema>;

interface DayRow {
  day: string;
  count: number;
  succeeded: number;
  failed: number;
  volume: string;
}

const emptyPeriod = (): PeriodOut => ({ volume: 0, count: 0, succeeded: 0, failed: 0, successRate: null });

function add(into: PeriodOut, d: PeriodOut): void {
  into.volume += d.volume;
  into.count += d.count;
  into.succeeded += d.succeeded;
  into.failed += d.failed;
  const decided = into.succeeded + into.failed;
  into.successRate = decided === 0 ? null : into.succeeded / decided;
}

/** Two aggregate queries: one GROUP BY Nairobi day over 30 days, one count of open payments by status. */
export async function paymentSummary(db: Db, auth: AuthContext, now: Date): Promise<Summary> {
  const today = nairobiMidnight(now);
  const from = new Date(today.getTime() - 29 * DAY_MS);
  const rows = await sql<DayRow>`
    select to_char((created_at at time zone 'UTC') + interval '3 hours', 'YYYY-MM-DD') as day,
           count(*)::int as count,
           (count(*) filter (where status = 'success'))::int as succeeded,
           (count(*) filter (where status = 'failed'))::int as failed,
           coalesce(sum(amount) filter (where status = 'success'), 0)::text as volume
      from payments
     where merchant_id = ${auth.merchantId} and environment = ${auth.environment} and created_at >= ${from}
     group by 1`.execute(db);
  const byDay = new Map(rows.rows.map((r) => [r.day, r]));
  const open = await db
    .selectFrom('payments')
    .select(['status', sql<number>`count(*)::int`.as('n')])
    .where('merchant_id', '=', auth.merchantId)
    .where('environment', '=', auth.environment)
    .where('status', 'in', ['pending', 'needs_review'])
    .groupBy('status')
    .execute();
  const daily: Summary['daily'] = [];
  const last7 = emptyPeriod();
  const last30 = emptyPeriod();
  let todayPeriod = emptyPeriod();
  for (let i = 0; i < 30; i++) {
    const date = new Date(from.getTime() + i * DAY_MS + NAIROBI_OFFSET_MS).toISOString().slice(0, 10);
    const r = byDay.get(date);
    const p = emptyPeriod();
    if (r)
      add(p, {
        volume: Number(r.volume),
        count: r.count,
        succeeded: r.succeeded,
        failed: r.failed,
        successRate: null,
      });
    daily.push({ date, ...p });
    add(last30, p);
    if (i >= 23) add(last7, p);
    if (i === 29) todayPeriod = p;
  }
  const openCount = (s: string) => Number(open.find((o) => o.status === s)?.n ?? 0);
  return {
    object: 'payment_summary',
    environment: auth.environment,
    timezone: 'Africa/Nairobi',
    generatedAt: now.toISOString(),
    today: todayPeriod,
    last7Days: last7,
    last30Days: last30,
    daily,
    pending: openCount('pending'),
    needsReview: openCount('needs_review'),
  };
}

export const paymentSummaryRoute = defineRoute({
  method: 'get',
  path: '/v1/reports/summary',
  scope: 'payments:read',
  summary: 'Payment totals: today, 7 and 30 days, and a daily series',
  description:
    'Days are Nairobi days (EAT, UTC+3). Volume is the sum of successful payments in whole KES; the success rate counts decided payments only.',
  tags: ['reports'],
  responses: { 200: { description: 'The summary', schema: SummarySchema } },
  handler: async ({ deps, auth, reply }) =>
    reply(200, await paymentSummary(deps.db, auth, new Date(deps.rateLimit?.now?.() ?? Date.now()))),
});

/** The CSV columns, in order. Amounts are whole KES; phones as stored (2547…); times ISO 8601 UTC. */
export const CSV_COLUMNS = [
  'id',
  'created_at',
  'status',
  'amount',
  'currency',
  'phone',
  'reference',
  'description',
  'kind',
  'channel_id',
  'mpesa_receipt',
  'checkout_request_id',
  'merchant_request_id',
  'result_code',
  'result_desc',
  'failure_reason',
  'review_reason',
  'link_id',
  'settled_at',
] as const;

/**
 * One CSV cell (RFC 4180 quoting). Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR
 * first) gets a leading `'`: references and descriptions come from customers and integrations.
 */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = v instanceof Date ? v.toISOString() : String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const EXPORT_PAGE = 500;

/** Pages through the list (newest first, keyset cursors) and yields CSV text, a page at a time. */
export async function* paymentsCsv(
  repo: PaymentRepository,
  auth: AuthContext,
  filter: Omit<PaymentFilter, 'cursor' | 'limit'>,
): AsyncGenerator<string> {
  yield `${CSV_COLUMNS.join(',')}\r\n`;
  let cursor: PaymentFilter['cursor'];
  for (;;) {
    const page = await repo.list(auth.merchantId, auth.environment, {
      ...filter,
      cursor,
      limit: EXPORT_PAGE,
    });
    let chunk = '';
    for (const p of page.data) {
      const row: Record<(typeof CSV_COLUMNS)[number], unknown> = {
        id: p.id,
        created_at: p.createdAt,
        status: p.status,
        amount: p.amount,
        currency: p.currency,
        phone: p.phone,
        reference: p.reference,
        description: p.description,
        kind: p.kind,
        channel_id: p.channelId,
        mpesa_receipt: p.mpesaReceipt,
        checkout_request_id: p.checkoutRequestId,
        merchant_request_id: p.merchantRequestId,
        result_code: p.resultCode,
        result_desc: p.resultDesc,
        failure_reason: p.failureReason,
        review_reason: p.reviewReason,
        link_id: p.linkId,
        settled_at: p.settledAt,
      };
      chunk += `${CSV_COLUMNS.map((c) => csvCell(row[c])).join(',')}\r\n`;
    }
    if (chunk) yield chunk;
    const last = page.data[page.data.length - 1];
    if (!page.nextCursor || !last) return;
    cursor = { at: new Date(last.createdAt), id: last.id };
  }
}

export const exportPaymentsRoute = defineRoute({
  method: 'get',
  path: '/v1/reports/payments.csv',
  scope: 'payments:read',
  summary: 'Export payments as CSV',
  description:
    'Every payment matching the filters of `GET /v1/payments` (its `limit` and `cursor` are ignored), newest first, streamed. Columns: ' +
    `${CSV_COLUMNS.join(', ')}. Amounts are whole KES, phones as stored, times ISO 8601 UTC.`,
  tags: ['reports'],
  request: { query: ListQuery },
  responses: {
    200: { description: 'The CSV file', binary: { 'text/csv': 'One header row, then one row per payment' } },
  },
  handler: ({ deps, auth, query, reply }) => {
    let phone: string | undefined;
    if (query.phone !== undefined) {
      const p = normalizePhone(query.phone);
      if (!p.ok) throw fieldError('INVALID_PHONE_NUMBER', 'phone', p.reason);
      phone = p.msisdn;
    }
    const filter = {
      status: query.status,
      reference: query.reference,
      phone,
      channelId: query.channelId,
      linkId: query.linkId,
      kind: query.kind,
      from: query.from ? new Date(query.from) : undefined,
      to: query.to ? new Date(query.to) : undefined,
      search: query.search || undefined,
    };
    const name = `payments-${auth.environment}-${new Date().toISOString().slice(0, 10)}.csv`;
    return {
      ...reply(200, undefined, {
        'Content-Disposition': `attachment; filename="${name}"`,
        'Cache-Control': 'no-store',
      }),
      stream: { contentType: 'text/csv', chunks: paymentsCsv(deps.payments.repo, auth, filter) },
    };
  },
});

export const reportRoutes = [paymentSummaryRoute, exportPaymentsRoute];
