/**
 * The pay page's payment state: a success settled by an STK query before Daraja's callback has no receipt
 * yet, so the page says the payment was received and keeps watching until the receipt comes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LinkRow } from '../../src/links/links';
import { renderPayment } from '../../src/links/page';
import type { PaymentView } from '../../src/payments/repository';

const link = { id: 'lnk_1', title: 'Order 1042', logo_url: null } as unknown as LinkRow;
const payment = (p: Partial<PaymentView>): PaymentView =>
  ({
    id: 'pay_1',
    amount: 250,
    phone: '254712345678',
    status: 'pending',
    mpesaReceipt: null,
    ...p,
  }) as PaymentView;
const render = (p: Partial<PaymentView>) => renderPayment(link, { merchantName: 'Mama Mboga' }, payment(p));

describe('the pay page of a payment', () => {
  it('watches a pending payment', () => {
    const page = render({});
    assert.match(page, /<h1>Check your phone<\/h1>/);
    assert.match(page, /data-status="pending" data-watch="1"/);
  });

  it('shows a success without its receipt as received, and keeps watching for the receipt', () => {
    const page = render({ status: 'success' });
    assert.match(page, /<h1>Payment received<\/h1>/);
    assert.match(page, /data-status="success" data-watch="1"/);
    assert.doesNotMatch(page, /id="receipt"/);
    assert.match(page, /its receipt number follows in a moment/);
  });

  it('shows the receipt of a success and stops watching', () => {
    const page = render({ status: 'success', mpesaReceipt: 'UL2TY3P64Q' });
    assert.match(page, /<p class="receipt" id="receipt">UL2TY3P64Q<\/p>/);
    assert.match(page, /data-status="success" data-status-url=/);
    assert.doesNotMatch(page, /data-watch/);
  });
});
