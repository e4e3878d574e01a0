/** Overview: the merchant's latest payments in the session's environment. */
import type { z } from 'zod';
import { html } from '../../http/html';
import { listPaymentsRoute, type PaymentSchema } from '../../http/routes/payments';
import { callApi } from '../api';
import { emptyState, kes, nairobiTime } from '../layout';
import type { PageModule } from '../router';

type Payment = z.output<typeof PaymentSchema>;
type PaymentList = { data: Payment[]; nextCursor: string | null };

export const statusBadge = (status: string) =>
  html`<span class="badge ${status}">${status.replace('_', ' ')}</span>`;

export function paymentRows(list: Payment[]) {
  return html`<div class="table-wrap"><table class="payments"><thead><tr><th scope="col">Created</th><th scope="col">Status</th><th scope="col" class="num">Amount</th><th scope="col" class="hide-sm">Phone</th><th scope="col" class="hide-sm">Reference</th><th scope="col">Receipt</th></tr></thead><tbody>
${list.map(
  (p) =>
    html`<tr data-payment-id="${p.id}"><td><a href="/dashboard/payments/${p.id}">${nairobiTime(p.createdAt)}</a></td><td>${statusBadge(p.status)}</td><td class="num">${kes(p.amount)}</td><td class="hide-sm mono">${p.phone}</td><td class="hide-sm">${p.reference}</td><td class="mono">${p.mpesaReceipt ?? '–'}</td></tr>`,
)}
</tbody></table></div>`;
}

export const overviewPages: PageModule = (pages) => {
  pages.get('/overview', async (ctx) => {
    const list = await callApi<PaymentList>(ctx, listPaymentsRoute, { query: { limit: 10 } });
    const body = list.body.data.length
      ? html`<h2>Latest payments</h2>${paymentRows(list.body.data)}<p><a href="/dashboard/payments">All payments →</a></p>`
      : emptyState(
          'No payments yet',
          html`<p>Payments appear here as soon as your integration starts one with a ${ctx.session.environment} API key.</p>`,
        );
    return ctx.render({ title: 'Overview', active: 'overview', body });
  });
};
