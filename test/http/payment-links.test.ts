/**
 * /v1/payment-links (create, list with stats, get, update, disable) and the public pay pages under /pay:
 * availability (disabled 410, expired 410, exhausted 410, unknown 404), CSP, the honeypot, inline errors,
 * the status URL that reveals only the state, and per-IP limits. The payment itself is started through
 * a stand-in PaymentService here; the browser test runs the real one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MalipoError } from '../../src/domain/errors';
import { openDatabase } from '../../src/db';
import { LinkRepository } from '../../src/links/links';
import {
  expectEnvelope,
  expectSecured,
  startTestApp,
  type TestApp,
  type TestMerchant,
} from '../helpers/http';
import { type Call, FORM, fakePayments, formBody, formKeyOf, settle } from '../helpers/links';

describe('payment links', () => {
  let t: TestApp;
  let m: TestMerchant;
  let other: TestMerchant;
  const calls: Call[] = [];

  before(async () => {
    const handle = await openDatabase({});
    t = await startTestApp({
      db: handle,
      env: { MALIPO_PUBLIC_URL: 'https://pay.example.com', MALIPO_PUBLIC_RATE_LIMIT_PER_MINUTE: '1000' },
      overrides: { payments: fakePayments(handle.db, calls) },
    });
    m = await t.merchant('Mama Mboga');
    other = await t.merchant('Other shop');
    await t.channel(m.id);
    await t.channel(other.id);
  });
  after(async () => {
    await t.close();
    await t.handle.close();
  });

  const create = async (body: Record<string, unknown>, key = m.key) => {
    const r = await t.request('POST', '/v1/payment-links', { key, body });
    assert.equal(r.status, 201, r.text);
    return r.body;
  };
  /** A fresh form token, as the page issues it. */
  const tokenFor = async (linkId: string) => formKeyOf((await t.request('GET', `/pay/${linkId}`)).text);

  describe('POST /v1/payment-links', () => {
    it('creates a link with an unguessable id and its public url', async () => {
      const r = await t.request('POST', '/v1/payment-links', {
        key: m.key,
        body: {
          title: 'Order 1042',
          amount: 1500,
          reference: 'ORD-1042',
          description: 'Vegetables',
          logoUrl: 'https://cdn.example.org/logo.png',
          maxPayments: 3,
          expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
        },
      });
      assert.equal(r.status, 201, r.text);
      assert.match(r.body.id, /^lnk_[0-9A-Za-z]{22}$/, '22 base62 characters ≈ 131 bits');
      assert.equal(r.body.object, 'payment_link');
      assert.equal(r.body.url, `https://pay.example.com/pay/${r.body.id}`);
      assert.equal(r.body.amount, 1500);
      assert.equal(r.body.status, 'active');
      assert.equal(r.body.environment, 'test');
      assert.deepEqual(r.body.stats, { payments: 0, successfulPayments: 0, amountCollected: 0 });
      assert.equal(r.body.merchantId, undefined);
      const audit = await t.db
        .selectFrom('audit_log')
        .selectAll()
        .where('target_id', '=', r.body.id)
        .execute();
      assert.deepEqual(
        audit.map((a) => [a.action, a.actor]),
        [['payment_link.create', m.keyId]],
      );
    });

    it('takes a bounded amount and defaults the reference from the title', async () => {
      const l = await create({ title: 'Harambee: school fees!', amount: { min: 10, max: 5000 } });
      assert.deepEqual(l.amount, { min: 10, max: 5000 });
      assert.equal(l.reference, 'Harambee sch');
    });

    it('refuses bad input field by field', async () => {
      const r = await t.request('POST', '/v1/payment-links', {
        key: m.key,
        body: {
          title: '',
          amount: { min: 500, max: 10 },
          logoUrl: 'http://insecure.example.org/logo.png',
          reference: 'far too long a reference',
          maxPayments: 0,
        },
      });
      const b = expectEnvelope(r, 400, 'VALIDATION_ERROR');
      const paths = (b.error.details as Array<{ path: string }>).map((d) => d.path).sort();
      for (const p of ['title', 'logoUrl', 'reference', 'maxPayments']) assert.ok(paths.includes(p), p);
      assert.ok(
        paths.some((p) => p.startsWith('amount')),
        'amount',
      );
      expectEnvelope(
        await t.request('POST', '/v1/payment-links', {
          key: m.key,
          body: { title: 'x', amount: 10, expiresAt: '2001-01-01T00:00:00Z' },
        }),
        400,
        'VALIDATION_ERROR',
      );
      expectEnvelope(
        await t.request('POST', '/v1/payment-links', { key: m.key, body: { title: 'x', amount: 1.5 } }),
        400,
        'VALIDATION_ERROR',
      );
      expectEnvelope(
        await t.request('POST', '/v1/payment-links', {
          key: m.key,
          body: { title: 'x', amount: 10, extra: 1 },
        }),
        400,
        'VALIDATION_ERROR',
      );
      expectEnvelope(
        await t.request('POST', '/v1/payment-links', {
          key: m.key,
          body: { title: 'x', amount: 10, channelId: 'ch_doesnotexist1234' },
        }),
        404,
        'RESOURCE_NOT_FOUND',
      );
    });

    it('is secured by links:manage', async () => {
      await expectSecured(t, m.id, {
        method: 'POST',
        path: '/v1/payment-links',
        body: { title: 'x', amount: 10 },
        scope: 'links:manage',
      });
    });
  });

  describe('a link that names a channel', () => {
    it('needs a key that could push on it: links:manage alone may use only the default channel', async () => {
      const def = await t.db
        .selectFrom('channels')
        .select('id')
        .where('merchant_id', '=', m.id)
        .where('is_default', '=', true)
        .executeTakeFirstOrThrow();
      const second = await t.channel(m.id, { name: 'Second till', shortcode: '600111', isDefault: false });
      const linksOnly = (await t.key(m.id, ['links:manage'])).key;
      const both = (await t.key(m.id, ['links:manage', 'payments:create'])).key;

      assert.equal((await create({ title: 'Default', amount: 10 }, linksOnly)).channelId, null);
      assert.equal(
        (await create({ title: 'Pinned', amount: 10, channelId: def.id }, linksOnly)).channelId,
        def.id,
      );
      const refused = expectEnvelope(
        await t.request('POST', '/v1/payment-links', {
          key: linksOnly,
          body: { title: 'Elsewhere', amount: 10, channelId: second.id },
        }),
        403,
        'MISSING_SCOPE',
      );
      assert.match(refused.error.message, /payments:create/);
      assert.deepEqual(
        (refused.error.details as Array<{ path: string }>).map((d) => d.path),
        ['channelId'],
      );
      const titled = await t.db
        .selectFrom('payment_links')
        .select('id')
        .where('title', '=', 'Elsewhere')
        .execute();
      assert.equal(titled.length, 0, 'nothing was created');

      const l = await create({ title: 'On the second', amount: 10, channelId: second.id }, both);
      assert.equal(l.channelId, second.id);
      const patch = (body: Record<string, unknown>, id = l.id) =>
        t.request('PATCH', `/v1/payment-links/${id}`, { key: linksOnly, body });
      expectEnvelope(await patch({ title: 'Renamed' }), 403, 'MISSING_SCOPE');
      expectEnvelope(await patch({ status: 'active' }), 403, 'MISSING_SCOPE');
      const plain = await create({ title: 'Plain', amount: 10 }, linksOnly);
      expectEnvelope(await patch({ channelId: second.id }, plain.id), 403, 'MISSING_SCOPE');
      // stopping the prompts, or moving them to the default channel, is always allowed
      assert.equal((await patch({ status: 'disabled' })).body.status, 'disabled');
      const moved = await patch({ channelId: null, status: 'active' });
      assert.equal(moved.status, 200, moved.text);
      assert.equal(moved.body.channelId, null);
      assert.equal(moved.body.status, 'active');
      const ok = await t.request('PATCH', `/v1/payment-links/${plain.id}`, {
        key: both,
        body: { channelId: second.id },
      });
      assert.equal(ok.status, 200, ok.text);

      // a link's unchanged channel is not resolved again: a link on a channel disabled since can be edited
      await t.db.updateTable('channels').set({ status: 'disabled' }).where('id', '=', second.id).execute();
      const renamed = await t.request('PATCH', `/v1/payment-links/${plain.id}`, {
        key: both,
        body: { title: 'Still editable' },
      });
      assert.equal(renamed.status, 200, renamed.text);
      await t.db.updateTable('channels').set({ status: 'active' }).where('id', '=', second.id).execute();

      // the rule is the service's, not only the route's
      const links = new LinkRepository(t.db, t.secretBox, t.config.publicUrl);
      const ctx = { merchantId: m.id, environment: 'test' as const, keyId: 'key_x' };
      await assert.rejects(
        links.create(
          { ...ctx, scopes: ['links:manage'] },
          { title: 'x', amount: 1, channelId: second.id },
          {
            actor: 'key_x',
          },
        ),
        (err: MalipoError) => err.code === 'MISSING_SCOPE',
      );
      await assert.rejects(
        links.create(
          { merchantId: m.id, environment: 'test' },
          { title: 'x', amount: 1, channelId: second.id },
          {
            actor: 'operator',
          },
        ),
        (err: MalipoError) => err.code === 'MISSING_SCOPE',
        'no scopes known: only the default channel',
      );
      await assert.rejects(
        links.update(
          { ...ctx, scopes: ['links:manage'] },
          l.id,
          { channelId: second.id },
          { actor: 'key_x' },
        ),
        (err: MalipoError) => err.code === 'MISSING_SCOPE',
      );
    });
  });

  describe('GET, PATCH, disable', () => {
    it('lists newest first with stats from the payments table, pages with a cursor', async () => {
      const a = await create({ title: 'List A', amount: 100 });
      const b = await create({ title: 'List B', amount: { min: 10, max: 1000 } });
      // two payments through b: one success of 250, one failure
      const start = async (amount: string, phone: string) => {
        const page = await t.request('GET', `/pay/${b.id}`);
        const r = await t.request('POST', `/pay/${b.id}`, {
          raw: formBody({ amount, phone, formKey: formKeyOf(page.text) }),
          contentType: FORM,
        });
        assert.equal(r.status, 200, 'followed the 303 to the payment page');
        return calls[calls.length - 1]!;
      };
      await start('250', '0712345678');
      const ok = await t.db
        .selectFrom('payments')
        .select('id')
        .where('link_id', '=', b.id)
        .executeTakeFirstOrThrow();
      await settle(t, ok.id, 'success', { mpesa_receipt: 'TST1234567' });
      await start('40', '0712345679');
      const r = await t.request('GET', '/v1/payment-links?limit=2', { key: m.key });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(
        r.body.data.map((l: { id: string }) => l.id),
        [b.id, a.id],
      );
      assert.deepEqual(r.body.data[0].stats, { payments: 2, successfulPayments: 1, amountCollected: 250 });
      assert.ok(r.body.nextCursor);
      const next = await t.request('GET', `/v1/payment-links?limit=2&cursor=${r.body.nextCursor}`, {
        key: m.key,
      });
      assert.equal(next.status, 200);
      assert.ok(!next.body.data.some((l: { id: string }) => l.id === a.id || l.id === b.id));
      expectEnvelope(
        await t.request('GET', '/v1/payment-links?cursor=nope', { key: m.key }),
        400,
        'VALIDATION_ERROR',
      );
      // another merchant sees none of them
      const theirs = await t.request('GET', '/v1/payment-links', { key: other.key });
      assert.ok(!theirs.body.data.some((l: { id: string }) => l.id === b.id));
      // the payments carry the link id and are listed by it
      const pays = await t.request('GET', `/v1/payments?linkId=${b.id}`, { key: m.key });
      assert.equal(pays.body.data.length, 2);
      assert.ok(pays.body.data.every((p: { linkId: string }) => p.linkId === b.id));
      await expectSecured(t, m.id, { method: 'GET', path: '/v1/payment-links', scope: 'links:manage' });
    });

    it('gets one link; another merchant and a live key get 404', async () => {
      const l = await create({ title: 'Get me', amount: 10 });
      const r = await t.request('GET', `/v1/payment-links/${l.id}`, { key: m.key });
      assert.equal(r.status, 200);
      assert.equal(r.body.title, 'Get me');
      expectEnvelope(
        await t.request('GET', `/v1/payment-links/${l.id}`, { key: other.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      const live = await t.key(m.id, ['links:manage'], { env: 'live' });
      expectEnvelope(
        await t.request('GET', `/v1/payment-links/${l.id}`, { key: live.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expectEnvelope(
        await t.request('GET', '/v1/payment-links/nope', { key: m.key }),
        400,
        'VALIDATION_ERROR',
      );
      await expectSecured(t, m.id, {
        method: 'GET',
        path: `/v1/payment-links/${l.id}`,
        scope: 'links:manage',
      });
    });

    it('updates fields, clears with null, disables and re-enables', async () => {
      const l = await create({ title: 'Patch me', amount: 10, description: 'old' });
      const r = await t.request('PATCH', `/v1/payment-links/${l.id}`, {
        key: m.key,
        body: { title: 'Patched', amount: { min: 5, max: 50 }, description: null },
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.title, 'Patched');
      assert.deepEqual(r.body.amount, { min: 5, max: 50 });
      assert.equal(r.body.description, null);
      expectEnvelope(
        await t.request('PATCH', `/v1/payment-links/${l.id}`, { key: other.key, body: { title: 'mine' } }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      const d = await t.request('POST', `/v1/payment-links/${l.id}/disable`, { key: m.key });
      assert.equal(d.status, 200);
      assert.equal(d.body.status, 'disabled');
      assert.equal((await t.request('GET', `/pay/${l.id}`)).status, 410);
      const e = await t.request('PATCH', `/v1/payment-links/${l.id}`, {
        key: m.key,
        body: { status: 'active' },
      });
      assert.equal(e.body.status, 'active');
      assert.equal((await t.request('GET', `/pay/${l.id}`)).status, 200);
      expectEnvelope(
        await t.request('POST', `/v1/payment-links/${l.id}/disable`, { key: other.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      await expectSecured(t, m.id, {
        method: 'PATCH',
        path: `/v1/payment-links/${l.id}`,
        body: { title: 'x' },
        scope: 'links:manage',
      });
      await expectSecured(t, m.id, {
        method: 'POST',
        path: `/v1/payment-links/${l.id}/disable`,
        scope: 'links:manage',
      });
    });
  });

  describe('the public pay page', () => {
    it('serves accessible HTML under a strict CSP that allows only the logo origin', async () => {
      const l = await create({
        title: 'Logo <b>shop</b>',
        amount: 1500,
        logoUrl: 'https://cdn.example.org/l.png',
      });
      const r = await t.request('GET', `/pay/${l.id}`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /text\/html/);
      const csp = r.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, /style-src 'self'(;|$)/);
      assert.match(csp, /img-src 'self' https:\/\/cdn\.example\.org(;|$)/);
      assert.match(csp, /upgrade-insecure-requests/, 'the public URL is https');
      assert.doesNotMatch(csp, /unsafe-inline/);
      assert.doesNotMatch(r.text, /<script>|<style>| style=| on[a-z]+=/, 'no inline code');
      assert.match(r.text, /Logo &lt;b&gt;shop&lt;\/b&gt;/, 'escaped');
      assert.match(r.text, /<label for="phone">/);
      assert.match(r.text, /KES 1,500/);
      assert.match(r.text, /name="website"/, 'the honeypot');
      assert.match(formKeyOf(r.text), new RegExp(`^${l.id}\\.\\d+\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}$`));
      assert.equal(r.headers.get('cache-control'), 'no-store');
      const js = await t.request('GET', '/pay/assets/pay.js');
      assert.equal(js.status, 200);
      assert.match(js.headers.get('content-type') ?? '', /javascript/);
      assert.equal((await t.request('GET', '/pay/assets/pay.css')).status, 200);
    });

    it('answers 404 for an unknown link and 410 for expired and exhausted ones', async () => {
      const unknown = await t.request('GET', '/pay/lnk_AAAAAAAAAAAAAAAAAAAAAA');
      assert.equal(unknown.status, 404);
      assert.match(unknown.text, /Payment link not found/);
      assert.equal((await t.request('GET', '/pay/whatever')).status, 404);

      const expiring = await create({ title: 'Soon gone', amount: 10 });
      await t.db
        .updateTable('payment_links')
        .set({ expires_at: new Date(Date.now() - 1000) })
        .where('id', '=', expiring.id)
        .execute();
      const ex = await t.request('GET', `/pay/${expiring.id}`);
      assert.equal(ex.status, 410);
      assert.match(ex.text, /has expired/);
      assert.equal(
        (await t.request('GET', `/v1/payment-links/${expiring.id}`, { key: m.key })).body.status,
        'expired',
      );

      const once = await create({ title: 'Once', amount: 10, maxPayments: 1 });
      const page = await t.request('GET', `/pay/${once.id}`);
      await t.request('POST', `/pay/${once.id}`, {
        raw: formBody({ phone: '0712000001', formKey: formKeyOf(page.text) }),
        contentType: FORM,
      });
      const p = await t.db
        .selectFrom('payments')
        .select('id')
        .where('link_id', '=', once.id)
        .executeTakeFirstOrThrow();
      assert.equal(
        (await t.request('GET', `/pay/${once.id}`)).status,
        200,
        'a pending payment does not exhaust it',
      );
      await settle(t, p.id, 'success', { mpesa_receipt: 'TST7654321' });
      const done = await t.request('GET', `/pay/${once.id}`);
      assert.equal(done.status, 410);
      assert.match(done.text, /fully paid/);
      const json = await t.request('POST', `/pay/${once.id}`, {
        body: { phone: '0712000001', formKey: 'k'.repeat(20) },
      });
      expectEnvelope(json, 410, 'GONE');
    });

    it('starts one payment per form submission, tagged with the link, and redirects to its page', async () => {
      const l = await create({ title: 'Idem', amount: { min: 10, max: 100 }, reference: 'IDEM-1' });
      const key = formKeyOf((await t.request('GET', `/pay/${l.id}`)).text);
      const before = calls.length;
      const post = () =>
        fetch(`${t.url}/pay/${l.id}`, {
          method: 'POST',
          headers: { 'content-type': FORM },
          body: formBody({ phone: '+254 712 345 678', amount: '50', formKey: key, website: '' }),
          redirect: 'manual',
        });
      const first = await post();
      const second = await post();
      assert.equal(first.status, 303);
      assert.equal(first.headers.get('location'), second.headers.get('location'), 'the same payment');
      const call = calls[before]!;
      assert.equal(call.auth.merchantId, m.id);
      assert.equal(call.auth.environment, 'test');
      assert.equal(call.input.linkId, l.id);
      assert.equal(call.input.phone, '254712345678');
      assert.equal(call.input.amount, 50);
      assert.equal(call.input.reference, 'IDEM-1');
      assert.equal(call.key, `link:${l.id}:${key.split('.')[2]}`, "the token's nonce");
      assert.equal(calls.length, before + 1, 'the resent form started nothing');
      const rows = await t.db.selectFrom('payments').selectAll().where('link_id', '=', l.id).execute();
      assert.equal(rows.length, 1);

      const pageUrl = first.headers.get('location')!;
      const page = await t.request('GET', pageUrl);
      assert.equal(page.status, 200);
      assert.match(page.text, /Check your phone/);
      assert.match(page.text, /07•• ••• 678/);
      assert.doesNotMatch(page.text, /254712345678/);
      const status = await t.request('GET', `${pageUrl}/status`);
      assert.deepEqual(status.body, { status: 'pending' });
      await settle(t, rows[0]!.id, 'failed', {
        failure_reason: 'cancelled',
        result_desc: 'Request cancelled by user',
      });
      const failed = await t.request('GET', `${pageUrl}/status`);
      assert.deepEqual(Object.keys(failed.body).sort(), ['message', 'status']);
      assert.equal(failed.body.status, 'failed');
      assert.match(failed.body.message, /cancelled/);
      const failedPage = await t.request('GET', pageUrl);
      assert.match(failedPage.text, /Try again/);
      assert.match(failedPage.text, new RegExp(`href="/pay/${l.id}"`));
    });

    it('JSON submissions answer 202 with the status URL, errors in the envelope', async () => {
      const l = await create({ title: 'Json', amount: { min: 10, max: 100 } });
      const ok = await t.request('POST', `/pay/${l.id}`, {
        body: { phone: '0712345670', amount: '20', formKey: await tokenFor(l.id) },
      });
      assert.equal(ok.status, 202, ok.text);
      assert.match(ok.body.id, /^pay_/);
      assert.equal(ok.body.status, 'pending');
      assert.equal(ok.body.statusUrl, `/pay/${l.id}/payments/${ok.body.id}/status`);
      const bad = expectEnvelope(
        await t.request('POST', `/pay/${l.id}`, {
          body: { phone: '12', amount: '500', formKey: await tokenFor(l.id) },
        }),
        400,
        'VALIDATION_ERROR',
      );
      assert.deepEqual((bad.error.details as Array<{ path: string }>).map((d) => d.path).sort(), [
        'amount',
        'phone',
      ]);
      expectEnvelope(
        await t.request('POST', '/pay/lnk_AAAAAAAAAAAAAAAAAAAAAA', { body: {} }),
        404,
        'RESOURCE_NOT_FOUND',
      );
    });

    it('shows inline errors without JavaScript and keeps what was typed', async () => {
      const l = await create({ title: 'Inline', amount: { min: 50, max: 1000 } });
      const key = formKeyOf((await t.request('GET', `/pay/${l.id}`)).text);
      const r = await t.request('POST', `/pay/${l.id}`, {
        raw: formBody({ phone: '0812 345', amount: '5000', formKey: key }),
        contentType: FORM,
      });
      assert.equal(r.status, 400);
      assert.match(r.text, /id="phone-error" role="alert">Enter a Kenyan mobile number/);
      assert.match(r.text, /id="amount-error" role="alert">Enter an amount between KES 50 and KES 1,000/);
      assert.match(r.text, /value="0812 345"/);
      assert.match(r.text, /id="amount"[^>]*aria-invalid="true"[^>]*autofocus/);
      assert.equal(formKeyOf(r.text), key, 'nothing was paid, so the same form key');
      assert.equal(
        (await t.db.selectFrom('payments').select('id').where('link_id', '=', l.id).execute()).length,
        0,
      );
    });

    it('rejects a filled honeypot without starting a payment', async () => {
      const l = await create({ title: 'Bots', amount: 10 });
      const key = formKeyOf((await t.request('GET', `/pay/${l.id}`)).text);
      const before = calls.length;
      const r = await t.request('POST', `/pay/${l.id}`, {
        raw: formBody({ phone: '0712345678', formKey: key, website: 'http://spam.example' }),
        contentType: FORM,
      });
      assert.equal(r.status, 400);
      assert.match(r.text, /could not be sent/);
      assert.equal(calls.length, before);
    });

    it("the status URL reveals nothing of another link's payment", async () => {
      const a = await create({ title: 'A', amount: 10 });
      const b = await create({ title: 'B', amount: 10 });
      const started = await t.request('POST', `/pay/${a.id}`, {
        body: { phone: '0712345671', formKey: await tokenFor(a.id) },
      });
      assert.equal(started.status, 202);
      expectEnvelope(
        await t.request('GET', `/pay/${b.id}/payments/${started.body.id}/status`),
        404,
        'RESOURCE_NOT_FOUND',
      );
      assert.equal((await t.request('GET', `/pay/${b.id}/payments/${started.body.id}`)).status, 404);
    });

    it('a failure to start the payment shows a friendly page (HTML) or the envelope (JSON)', async () => {
      const l = await create({ title: 'Down', amount: 10 });
      const payments = t.deps.payments as unknown as { createStk: unknown };
      const real = payments.createStk;
      payments.createStk = async () => {
        throw new MalipoError('CONFLICT', 'Channel ch_x is disabled');
      };
      try {
        const key = formKeyOf((await t.request('GET', `/pay/${l.id}`)).text);
        const r = await t.request('POST', `/pay/${l.id}`, {
          raw: formBody({ phone: '0712345678', formKey: key }),
          contentType: FORM,
        });
        assert.equal(r.status, 503);
        assert.match(r.text, /Nothing was charged/);
        expectEnvelope(
          await t.request('POST', `/pay/${l.id}`, {
            body: { phone: '0712345678', formKey: await tokenFor(l.id) },
          }),
          409,
          'CONFLICT',
        );
      } finally {
        payments.createStk = real;
      }
    });
  });

  describe('per-IP rate limits', () => {
    it('answers 429: a friendly page for HTML, the envelope for JSON', async () => {
      const s = await startTestApp({ env: { MALIPO_PUBLIC_RATE_LIMIT_PER_MINUTE: '2' } });
      try {
        const mm = await s.merchant('Limited');
        await s.channel(mm.id);
        const l = (
          await s.request('POST', '/v1/payment-links', { key: mm.key, body: { title: 'L', amount: 10 } })
        ).body;
        const post = (json: boolean) =>
          json
            ? s.request('POST', `/pay/${l.id}`, { body: { phone: '12' } })
            : s.request('POST', `/pay/${l.id}`, { raw: formBody({ phone: '12' }), contentType: FORM });
        assert.equal((await post(false)).status, 400);
        assert.equal((await post(false)).status, 400);
        const html = await post(false);
        assert.equal(html.status, 429);
        assert.match(html.headers.get('content-type') ?? '', /text\/html/);
        assert.match(html.text, /Too many attempts/);
        assert.ok(Number(html.headers.get('retry-after')) >= 1);
        expectEnvelope(await post(true), 429, 'RATE_LIMIT_EXCEEDED');
        // page views have their own, larger budget
        assert.equal((await s.request('GET', `/pay/${l.id}`)).status, 200);
      } finally {
        await s.close();
      }
    });
  });
});
