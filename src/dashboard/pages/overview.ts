/**
 * Overview: today and the last 7 days (volume, count, success rate), a 30-day bar chart rendered as SVG
 * on the server, the open payments (pending, needs review), and the latest payments.
 * Backed by GET /v1/reports/summary and GET /v1/payments.
 */
import type { z } from 'zod';
import { html, type SafeHtml } from '../../http/html';
import { listPaymentsRoute, type PaymentSchema } from '../../http/routes/payments';
import { paymentSummaryRoute, type Summary } from '../../http/routes/reports';
import { callApi } from '../api';
import { emptyState, kes, nairobiTime, shortTime } from '../layout';
import type { PageModule } from '../page-types';

type Payment = z.output<typeof PaymentSchema>;
type PaymentList = { data: Payment[]; nextCursor: string | null };

export const statusBadge = (status: string) =>
  html`<span class="badge ${status}">${status.replace('_', ' ')}</span>`;

export function paymentRows(list: Payment[]) {
  return html`<div class="table-wrap"><table class="payments"><thead><tr><th scope="col">Created (Nairobi)</th><th scope="col">Status</th><th scope="col" class="num">Amount</th><th scope="col" class="hide-sm">Phone</th><th scope="col" class="hide-sm">Reference</th><th scope="col">Receipt</th></tr></thead><tbody>
${list.map(
  (p) =>
    html`<tr data-payment-id="${p.id}" data-status="${p.status}"><td><a href="/dashboard/payments/${p.id}"><time datetime="${p.createdAt}" title="${nairobiTime(p.createdAt)}">${shortTime(p.createdAt)}</time></a></td><td>${statusBadge(p.status)}</td><td class="num">${kes(p.amount)}</td><td class="hide-sm mono">${p.phone}</td><td class="hide-sm">${p.reference}</td><td class="mono">${p.mpesaReceipt ?? '–'}</td></tr>`,
)}
</tbody></table></div>`;
}

const pct = (r: number | null) => (r === null ? '–' : `${Math.round(r * 1000) / 10}%`);

/**
 * 30 bars of daily volume in an SVG that stretches to the card (preserveAspectRatio="none", so no text
 * inside it); each bar has a <title> with its day and numbers. The dates sit below, in HTML.
 */
export function volumeChart(daily: Summary['daily']): SafeHtml {
  const W = 300;
  const H = 100;
  const slot = W / daily.length;
  const max = Math.max(0, ...daily.map((d) => d.volume));
  const bars = daily.map((d, i) => {
    const h = max === 0 ? 0 : Math.max(d.volume > 0 ? 0.8 : 0, (H * d.volume) / max);
    const label = `${d.date}: ${kes(d.volume)}, ${d.count} payment${d.count === 1 ? '' : 's'}`;
    return html`<rect class="bar" x="${(i * slot + slot * 0.15).toFixed(2)}" y="${(H - h).toFixed(2)}" width="${(slot * 0.7).toFixed(2)}" height="${h.toFixed(2)}"><title>${label}</title></rect>`;
  });
  const total = daily.reduce((sum, d) => sum + d.volume, 0);
  const day = (iso: string | undefined) =>
    iso
      ? new Date(`${iso}T12:00:00Z`).toLocaleDateString('en-GB', {
          day: '2-digit',
          month: 'short',
          timeZone: 'UTC',
        })
      : '';
  return html`<figure class="card chart" id="volume-chart"><figcaption><strong>Volume, last 30 days</strong> <span class="muted small">successful payments, KES per Nairobi day${max > 0 ? `; highest ${kes(max)}` : ''}</span></figcaption>
<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="Daily volume for the last 30 days, ${kes(total)} in total" xmlns="http://www.w3.org/2000/svg">
${bars}
</svg>
<div class="ticks" aria-hidden="true"><span>${day(daily[0]?.date)}</span><span>${day(daily[15]?.date)}</span><span>Today</span></div>
</figure>`;
}

function stat(id: string, label: string, value: string, note?: string): SafeHtml {
  return html`<div class="stat" id="${id}"><small>${label}</small><b>${value}</b>${note ? html`<span class="muted small">${note}</span>` : ''}</div>`;
}

export const overviewPages: PageModule = (pages) => {
  pages.get('/overview', async (ctx) => {
    const [summary, list] = await Promise.all([
      callApi<Summary>(ctx, paymentSummaryRoute),
      callApi<PaymentList>(ctx, listPaymentsRoute, { query: { limit: 10 } }),
    ]);
    const s = summary.body;
    const stats = html`<h2 class="sr-only">Today</h2><div class="stats">
${stat('today-volume', 'Today, received', kes(s.today.volume))}
${stat('today-count', 'Today, payments', String(s.today.count))}
${stat('today-rate', 'Today, success rate', pct(s.today.successRate))}
${stat('week-volume', 'Last 7 days, received', kes(s.last7Days.volume))}
${stat('week-count', 'Last 7 days, payments', String(s.last7Days.count))}
${stat('week-rate', 'Last 7 days, success rate', pct(s.last7Days.successRate))}
</div>
<div class="stats">
<a class="stat" id="open-pending" href="/dashboard/payments?status=pending"><small>Pending now</small><b>${s.pending}</b></a>
<a class="stat" id="open-review" href="/dashboard/payments?status=needs_review"><small>Needs review</small><b>${s.needsReview}</b></a>
</div>`;
    const latest = list.body.data.length
      ? html`<h2>Latest payments</h2>${paymentRows(list.body.data)}<p><a href="/dashboard/payments">All payments →</a></p>`
      : emptyState(
          'No payments yet',
          html`<p>Payments appear here as soon as your integration starts one with a ${ctx.session.environment} API key${
            ctx.session.environment === 'test' ? ' (the simulator answers test payments)' : ''
          }.</p>`,
        );
    return ctx.render({
      title: 'Overview',
      active: 'overview',
      body: html`${stats}${volumeChart(s.daily)}${latest}`,
    });
  });
};
