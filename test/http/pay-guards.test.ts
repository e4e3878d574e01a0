/**
 * The pay page's guards against abuse, over real HTTP: which client IP the per-IP limits count
 * (MALIPO_TRUST_PROXY, IPv6 by /64), limits per phone and per link, one open prompt per phone and
 * link, the server-issued form token, and maxPayments slots held by pending payments. The payment is
 * started through a stand-in PaymentService that writes the pending row as the real one does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openDatabase } from '../../src/db';
import { clientAddressGroup } from '../../src/http/middleware/rate-limit';
import { startTestApp, type TestApp, type TestMerchant } from '../helpers/http';
import { type Call, FORM, fakePayments, formBody, formKeyOf } from '../helpers/links';

interface Pay {
  t: TestApp;
  m: TestMerchant;
  calls: Call[];
  link(body?: Record<string, unknown>): Promise<{ id: string }>;
  /** GET the page, then POST its form; `headers` go on both. */
  pay(
    linkId: string,
    fields: Record<string, string>,
    headers?: Record<string, string>,
  ): Promise<{ status: number; location: string | null; text: string }>;
  close(): Promise<void>;
}

async function payApp(env: Record<string, string> = {}, now?: () => number): Promise<Pay> {
  const calls: Call[] = [];
  const handle = await openDatabase({});
  const t = await startTestApp({
    db: handle,
    env: { MALIPO_PUBLIC_RATE_LIMIT_PER_MINUTE: '1000', ...env },
    overrides: { payments: fakePayments(handle.db, calls) },
    ...(now ? { rateLimit: { now } } : {}),
  });
  const m = await t.merchant('Guarded shop');
  await t.channel(m.id);
  return {
    t,
    m,
    calls,
    async link(body = {}) {
      const r = await t.request('POST', '/v1/payment-links', {
        key: m.key,
        body: { title: 'Guarded', amount: 10, ...body },
      });
      assert.equal(r.status, 201, r.text);
      return r.body;
    },
    async pay(linkId, fields, headers = {}) {
      const page = await t.request('GET', `/pay/${linkId}`, { headers });
      const res = await fetch(`${t.url}/pay/${linkId}`, {
        method: 'POST',
        headers: { 'content-type': FORM, ...headers },
        body: formBody({ formKey: formKeyOf(page.text), ...fields }),
        redirect: 'manual',
      });
      return { status: res.status, location: res.headers.get('location'), text: await res.text() };
    },
    async close() {
      await t.close();
      await handle.close();
    },
  };
}

/** A submission the limits count but that starts nothing (an invalid phone). */
const badSubmit = (t: TestApp, linkId: string, xff?: string) =>
  t.request('POST', `/pay/${linkId}`, {
    raw: formBody({ phone: '12' }),
    contentType: FORM,
    ...(xff ? { headers: { 'x-forwarded-for': xff } } : {}),
  });

describe('the client IP of the per-IP limits', () => {
  it('ignores a forged X-Forwarded-For by default', async () => {
    const p = await payApp({ MALIPO_PUBLIC_RATE_LIMIT_PER_MINUTE: '1' });
    try {
      const l = await p.link();
      assert.equal((await badSubmit(p.t, l.id, '203.0.113.1')).status, 400);
      const second = await badSubmit(p.t, l.id, '203.0.113.2');
      assert.equal(second.status, 429, 'a new forged address is still the same client');
    } finally {
      await p.close();
    }
  });

  it('believes X-Forwarded-For from as many proxies as MALIPO_TRUST_PROXY counts', async () => {
    const p = await payApp({ MALIPO_PUBLIC_RATE_LIMIT_PER_MINUTE: '1', MALIPO_TRUST_PROXY: '1' });
    try {
      const l = await p.link();
      assert.equal((await badSubmit(p.t, l.id, '203.0.113.1')).status, 400);
      assert.equal(
        (await badSubmit(p.t, l.id, '203.0.113.2')).status,
        400,
        'another client behind the proxy',
      );
      assert.equal(
        (await badSubmit(p.t, l.id, '198.51.100.7, 203.0.113.1')).status,
        429,
        'the hop the proxy saw',
      );
    } finally {
      await p.close();
    }
  });

  it('believes only the listed proxies', async () => {
    const listed = await payApp({
      MALIPO_PUBLIC_RATE_LIMIT_PER_MINUTE: '1',
      MALIPO_TRUST_PROXY: '127.0.0.1/32',
    });
    const other = await payApp({
      MALIPO_PUBLIC_RATE_LIMIT_PER_MINUTE: '1',
      MALIPO_TRUST_PROXY: '10.0.0.0/8',
    });
    try {
      const a = await listed.link();
      assert.equal((await badSubmit(listed.t, a.id, '203.0.113.1')).status, 400);
      assert.equal((await badSubmit(listed.t, a.id, '203.0.113.2')).status, 400);
      const b = await other.link();
      assert.equal((await badSubmit(other.t, b.id, '203.0.113.1')).status, 400);
      assert.equal((await badSubmit(other.t, b.id, '203.0.113.2')).status, 429, '127.0.0.1 is not 10/8');
    } finally {
      await listed.close();
      await other.close();
    }
  });

  it('counts IPv6 clients by /64', async () => {
    const p = await payApp({ MALIPO_PUBLIC_RATE_LIMIT_PER_MINUTE: '1', MALIPO_TRUST_PROXY: '1' });
    try {
      const l = await p.link();
      assert.equal((await badSubmit(p.t, l.id, '2001:db8:1:2::1')).status, 400);
      assert.equal(
        (await badSubmit(p.t, l.id, '2001:db8:1:2:ffff:0:0:9')).status,
        429,
        'another address of the same /64',
      );
      assert.equal((await badSubmit(p.t, l.id, '2001:db8:1:3::1')).status, 400, 'the next /64');
    } finally {
      await p.close();
    }
  });

  it('groups addresses: IPv4 as is, IPv4-mapped as IPv4, IPv6 by prefix', () => {
    assert.equal(clientAddressGroup('203.0.113.9', 64), '203.0.113.9');
    assert.equal(clientAddressGroup('::ffff:203.0.113.9', 64), '203.0.113.9');
    assert.equal(clientAddressGroup('2001:db8:1:2:3:4:5:6', 64), '2001:db8:1:2:0:0:0:0/64');
    assert.equal(clientAddressGroup('2001:DB8:1:2::1%eth0', 64), '2001:db8:1:2:0:0:0:0/64');
    assert.equal(clientAddressGroup('2001:db8:1:2::1', 48), '2001:db8:1:0:0:0:0:0/48');
    assert.equal(clientAddressGroup('2001:db8:1:2::1', 56), '2001:db8:1:0:0:0:0:0/56');
    assert.equal(clientAddressGroup('2001:db8:1:2ff::1', 56), '2001:db8:1:200:0:0:0:0/56');
    assert.equal(clientAddressGroup('::1'), '0:0:0:0:0:0:0:1/128');
    assert.equal(clientAddressGroup('64:ff9b::192.0.2.1', 128), '64:ff9b:0:0:0:0:c000:201/128');
  });
});
