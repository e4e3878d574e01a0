/**
 * The pay page's guards against abuse, over real HTTP: which client IP the per-IP limits count
 * (MALIPO_TRUST_PROXY, IPv6 by /64), limits per phone and per link, one open prompt per phone and
 * link, the server-issued form token, and maxPayments slots held by pending payments. The payment is
 * started through a stand-in PaymentService that writes the pending row as the real one does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type DatabaseHandle, openDatabase } from '../../src/db';
import { clientAddressGroup } from '../../src/http/middleware/rate-limit';
import { expectEnvelope, startTestApp, type TestApp, type TestMerchant } from '../helpers/http';
import { testDatabases } from '../helpers/db';
import { type Call, FORM, fakePayments, formBody, formKeyOf, settle } from '../helpers/links';

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

async function payApp(
  env: Record<string, string> = {},
  now?: () => number,
  db?: DatabaseHandle,
): Promise<Pay> {
  const calls: Call[] = [];
  const handle = db ?? (await openDatabase({}));
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

describe('the form token', () => {
  let clock = Date.now();
  let p: Pay;
  before(async () => {
    p = await payApp({}, () => clock);
  });
  after(() => p.close());

  const post = (linkId: string, fields: Record<string, string>) =>
    fetch(`${p.t.url}/pay/${linkId}`, {
      method: 'POST',
      headers: { 'content-type': FORM },
      body: formBody({ phone: '0712345678', ...fields }),
      redirect: 'manual',
    });
  const tokenOf = async (linkId: string) => formKeyOf((await p.t.request('GET', `/pay/${linkId}`)).text);
  const rows = async (linkId: string) =>
    (await p.t.db.selectFrom('payments').select('id').where('link_id', '=', linkId).execute()).length;

  it('refuses a missing, forged, self-made, expired or other-link token with a message on the page', async () => {
    const l = await p.link();
    const other = await p.link();
    const good = await tokenOf(l.id);
    const [linkPart, expires, nonce, mac] = good.split('.') as [string, string, string, string];
    const flip = (c: string) => (c === 'A' ? 'B' : 'A');
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ['missing', {}, /missing its security code/],
      ['a key of its own', { formKey: 'k'.repeat(24) }, /could not be verified/],
      [
        'a changed MAC',
        { formKey: `${linkPart}.${expires}.${nonce}.${flip(mac[0]!)}${mac.slice(1)}` },
        /could not be verified/,
      ],
      [
        'a later expiry',
        { formKey: `${linkPart}.${Number(expires) + 3600}.${nonce}.${mac}` },
        /could not be verified/,
      ],
      [
        'a nonce of its own',
        { formKey: `${linkPart}.${expires}.${'n'.repeat(22)}.${mac}` },
        /could not be verified/,
      ],
      ["another link's", { formKey: await tokenOf(other.id) }, /belongs to another payment link/],
    ];
    for (const [name, fields, message] of cases) {
      const r = await post(l.id, fields);
      const html = await r.text();
      assert.equal(r.status, 400, name);
      assert.match(html, /class="form-error" role="alert"/, name);
      assert.match(html, message, name);
      assert.match(formKeyOf(html), new RegExp(`^${l.id}\\.`), `${name}: a fresh token to try again with`);
    }
    clock += 2 * 3600_000;
    try {
      const r = await post(l.id, { formKey: good });
      assert.equal(r.status, 400);
      assert.match(await r.text(), /This form has expired/);
    } finally {
      clock = Date.now();
    }
    expectEnvelope(
      await p.t.request('POST', `/pay/${l.id}`, { body: { phone: '0712345678', formKey: 'k'.repeat(24) } }),
      400,
      'VALIDATION_ERROR',
    );
    assert.equal(await rows(l.id), 0, 'nothing was started');
    assert.equal((await post(l.id, { formKey: good })).status, 303, 'the genuine token still works');
  });

  it('a replayed token answers the same payment without a second push', async () => {
    const l = await p.link();
    const token = await tokenOf(l.id);
    const first = await post(l.id, { formKey: token });
    assert.equal(first.status, 303);
    const again = await Promise.all([post(l.id, { formKey: token }), post(l.id, { formKey: token })]);
    for (const r of again) {
      assert.equal(r.status, 303);
      assert.equal(r.headers.get('location'), first.headers.get('location'));
    }
    assert.equal(await rows(l.id), 1);
    const json = await p.t.request('POST', `/pay/${l.id}`, { body: { phone: '0712345678', formKey: token } });
    assert.equal(json.status, 202);
    assert.equal(`/pay/${l.id}/payments/${json.body.id}`, first.headers.get('location'));
    const other = await post(l.id, { formKey: token, phone: '0712345679' });
    assert.equal(other.status, 400, 'the token is spent on the first payment');
    assert.match(await other.text(), /already used for another payment/);
    assert.equal(await rows(l.id), 1);
  });
});

const paymentOf = (location: string | null) => location?.split('/').pop() ?? '';

describe('limits per phone and per link', () => {
  it('one open prompt per phone and link: a second submission shows the pending payment', async () => {
    const p = await payApp();
    try {
      const l = await p.link();
      const first = await p.pay(l.id, { phone: '0712000001' });
      assert.equal(first.status, 303);
      const again = await p.pay(l.id, { phone: '+254 712 000 001' });
      assert.equal(again.status, 303);
      assert.equal(again.location, first.location, 'the pending payment, not a second push');
      const both = await Promise.all([
        p.pay(l.id, { phone: '0712000002' }),
        p.pay(l.id, { phone: '0712000002' }),
      ]);
      assert.equal(both[0].location, both[1].location, 'two tabs at once: one push');
      assert.equal(p.calls.length, 2);
      // once the prompt has ended, the phone may be prompted again
      await settle(p.t, paymentOf(first.location), 'failed', { failure_reason: 'cancelled' });
      const retry = await p.pay(l.id, { phone: '0712000001' });
      assert.equal(retry.status, 303);
      assert.notEqual(retry.location, first.location);
      assert.equal(p.calls.length, 3);
      // another link is another prompt
      const l2 = await p.link();
      assert.notEqual((await p.pay(l2.id, { phone: '0712000001' })).location, retry.location);
    } finally {
      await p.close();
    }
  });

  it('MALIPO_PAY_PROMPTS_PER_PHONE_PER_HOUR prompts per phone, across links', async () => {
    let clock = Date.now();
    const p = await payApp({ MALIPO_PAY_PROMPTS_PER_PHONE_PER_HOUR: '2' }, () => clock);
    try {
      const links = [await p.link(), await p.link(), await p.link()];
      assert.equal((await p.pay(links[0]!.id, { phone: '0712000003' })).status, 303);
      assert.equal((await p.pay(links[1]!.id, { phone: '0712000003' })).status, 303);
      const refused = await p.pay(links[2]!.id, { phone: '0712000003' });
      assert.equal(refused.status, 429);
      assert.match(refused.text, /too many M-Pesa prompts in the last hour/);
      assert.match(formKeyOf(refused.text), /^lnk_/, 'the form, to try again later');
      expectEnvelope(
        await p.t.request('POST', `/pay/${links[2]!.id}`, {
          body: {
            phone: '0712000003',
            formKey: formKeyOf((await p.t.request('GET', `/pay/${links[2]!.id}`)).text),
          },
        }),
        429,
        'RATE_LIMIT_EXCEEDED',
      );
      assert.equal((await p.pay(links[2]!.id, { phone: '0712000004' })).status, 303, 'another phone');
      assert.equal(p.calls.length, 3);
      clock += 3600_000;
      assert.equal((await p.pay(links[2]!.id, { phone: '0712000003' })).status, 303, 'the next hour');
    } finally {
      await p.close();
    }
  });

  it('MALIPO_PAY_PROMPTS_PER_LINK_PER_MINUTE prompts per link, whoever asks', async () => {
    let clock = Date.now();
    const p = await payApp({ MALIPO_PAY_PROMPTS_PER_LINK_PER_MINUTE: '2' }, () => clock);
    try {
      const l = await p.link();
      assert.equal((await p.pay(l.id, { phone: '0712000005' })).status, 303);
      assert.equal((await p.pay(l.id, { phone: '0712000006' })).status, 303);
      const busy = await p.pay(l.id, { phone: '0712000007' });
      assert.equal(busy.status, 429);
      assert.match(busy.text, /This payment link is busy right now/);
      const other = await p.link();
      assert.equal((await p.pay(other.id, { phone: '0712000007' })).status, 303, 'another link');
      clock += 60_000;
      assert.equal((await p.pay(l.id, { phone: '0712000007' })).status, 303, 'the next minute');
      assert.equal(p.calls.length, 4);
    } finally {
      await p.close();
    }
  });
});

for (const database of testDatabases()) {
  describe(`maxPayments slots (${database.name})`, () => {
    let p: Pay;
    let handle: DatabaseHandle;
    before(async () => {
      handle = await database.open();
      p = await payApp({}, undefined, handle);
    });
    after(async () => {
      await p.t.close();
      await handle.close();
    });

    it('a pending payment holds a place: concurrent submissions beyond the places are refused', async () => {
      const l = await p.link({ maxPayments: 2 });
      const tokens = await Promise.all(
        Array.from({ length: 8 }, async () => formKeyOf((await p.t.request('GET', `/pay/${l.id}`)).text)),
      );
      const post = (token: string, phone: string) =>
        fetch(`${p.t.url}/pay/${l.id}`, {
          method: 'POST',
          headers: { 'content-type': FORM },
          body: formBody({ phone, formKey: token }),
          redirect: 'manual',
        }).then(async (r) => ({
          status: r.status,
          location: r.headers.get('location'),
          text: await r.text(),
        }));
      const results = await Promise.all(
        tokens.map((tk, i) => post(tk, `07120001${String(i).padStart(2, '0')}`)),
      );
      const started = results.filter((r) => r.status === 303);
      const refused = results.filter((r) => r.status === 409);
      assert.equal(started.length, 2, JSON.stringify(results.map((r) => r.status)));
      assert.equal(refused.length, 6);
      assert.match(refused[0]!.text, /Every payment this link allows is already under way/);
      const rows = await p.t.db.selectFrom('payments').select('id').where('link_id', '=', l.id).execute();
      assert.equal(rows.length, 2, 'never oversold');
      assert.equal((await p.t.request('GET', `/pay/${l.id}`)).status, 200, 'still open: nothing paid yet');

      // a failed (cancelled) payment gives its place back
      const [a, b] = started.map((r) => paymentOf(r.location)) as [string, string];
      await settle(p.t, a, 'failed', { failure_reason: 'cancelled' });
      const c = await p.pay(l.id, { phone: '0712000200' });
      assert.equal(c.status, 303);
      assert.equal((await p.pay(l.id, { phone: '0712000201' })).status, 409, 'b and c hold both places');
      // a success keeps it
      await settle(p.t, b, 'success', { mpesa_receipt: 'TST0000001' });
      assert.equal((await p.pay(l.id, { phone: '0712000202' })).status, 409);
      await settle(p.t, paymentOf(c.location), 'failed', { failure_reason: 'timeout' });
      const d = await p.pay(l.id, { phone: '0712000203' });
      assert.equal(d.status, 303, "c's place opened again");
      await settle(p.t, paymentOf(d.location), 'success', { mpesa_receipt: 'TST0000002' });
      assert.equal((await p.t.request('GET', `/pay/${l.id}`)).status, 410, 'two successes: exhausted');
      const json = await p.t.request('POST', `/pay/${l.id}`, {
        body: { phone: '0712000204', formKey: tokens[7]! },
      });
      expectEnvelope(json, 410, 'GONE');
    });

    it('a pending payment whose slot never learnt its id still holds a place once that hold lapses', async () => {
      const l = await p.link({ maxPayments: 1 });
      const started = await p.pay(l.id, { phone: '0712000400' });
      assert.equal(started.status, 303);
      // as if the process had stopped between starting the payment and recording it in its slot
      await p.t.db.deleteFrom('payment_link_slots').where('link_id', '=', l.id).execute();
      await p.t.db
        .updateTable('payments')
        .set({ created_at: new Date(Date.now() - 10 * 60_000) })
        .where('id', '=', paymentOf(started.location))
        .execute();
      assert.equal((await p.pay(l.id, { phone: '0712000401' })).status, 409);
    });

    it('a link without maxPayments takes any number of concurrent submissions', async () => {
      const l = await p.link();
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => p.pay(l.id, { phone: `07120003${String(i).padStart(2, '0')}` })),
      );
      assert.deepEqual(
        results.map((r) => r.status),
        [303, 303, 303, 303, 303, 303],
      );
    });
  });
}
