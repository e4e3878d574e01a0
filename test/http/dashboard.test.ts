/**
 * The dashboard over HTTP (the real app, PGlite and PostgreSQL): sign-up, sign-in and sign-out with
 * server-side sessions, CSRF and origin checks, login throttling, closed sign-up, invites, password
 * changes, tenant isolation, and roles checked by the API's own scope rule.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { adminMerchantInvite } from '../../src/admin/commands';
import { ensureDevCredentials } from '../../src/admin/dev-bootstrap';
import type { DatabaseHandle } from '../../src/db';
import { newId } from '../../src/domain/ids';
import { DEVELOPMENT_CHANNEL_POLICY } from '../../src/platform/channels';
import { createKeyRoute } from '../../src/http/routes/keys';
import { html } from '../../src/http/html';
import { callApi } from '../../src/dashboard/api';
import { formErrors } from '../../src/dashboard/layout';
import type { PageModule } from '../../src/dashboard/page-types';
import { testDatabases } from '../helpers/db';
import { DashboardClient } from '../helpers/dashboard';
import { startTestApp, type TestApp } from '../helpers/http';

const PASSWORD = 'correct horse battery';

let seq = 0;
const email = (name: string) => `${name}.${++seq}.${Date.now()}@example.co.ke`;

/** A page only tests mount: creates an API key through callApi, so the API's scope rule decides. */
const keyPage: PageModule = (pages) => {
  pages.get('/test-keys', (ctx) =>
    ctx.render({ title: 'Keys', active: 'keys', body: html`<form method="post">${ctx.csrf}</form>` }),
  );
  pages.post('/test-keys', async (ctx) => {
    try {
      const r = await callApi<{ id: string }>(ctx, createKeyRoute, {
        body: { label: ctx.form.label, scopes: ['payments:read'] },
      });
      return ctx.raw('text/plain', `created ${r.body.id}`);
    } catch (err) {
      const e = formErrors(err);
      return ctx.raw('text/plain', `refused ${JSON.stringify(e)}`, {});
    }
  });
};

async function insertPayment(
  t: TestApp,
  merchantId: string,
  o: { environment?: 'test' | 'live'; reference: string },
): Promise<string> {
  const id = newId('payment');
  await t.db
    .insertInto('payments')
    .values({
      id,
      merchant_id: merchantId,
      environment: o.environment ?? 'test',
      channel_id: 'ch_x',
      status: 'success',
      amount: 250,
      phone: '254708374149',
      reference: o.reference,
      description: 'test',
      mpesa_receipt: `R${o.reference}`,
    })
    .execute();
  return id;
}

for (const database of testDatabases()) {
  describe(`dashboard accounts on ${database.name}`, () => {
    let handle: DatabaseHandle;
    let t: TestApp;
    let clock = Date.now();

    before(async () => {
      handle = await database.open();
      t = await startTestApp({
        db: handle,
        rateLimit: { now: () => clock },
        overrides: { dashboardPages: [keyPage] },
      });
    });
    after(async () => {
      await t.close();
      await handle.close();
    });

    it('signs up, shows the business, sets a strict cookie and CSP, and signs out server-side', async () => {
      const b = new DashboardClient(t.url);
      const mail = email('ann');
      const r = await b.signUp(mail.toUpperCase(), PASSWORD, 'Ann <Duka>');
      assert.equal(r.status, 303, r.text);
      assert.equal(r.location, '/dashboard/overview');
      const setCookie = r.headers.getSetCookie().find((c) => c.startsWith('malipo_session='))!;
      assert.match(setCookie, /HttpOnly/);
      assert.match(setCookie, /SameSite=Lax/);
      assert.match(setCookie, /Path=\/dashboard/);
      assert.doesNotMatch(setCookie, /Secure/); // development mode over http
      const token = b.cookies.get('malipo_session')!;
      assert.match(token, /^[A-Za-z0-9_-]{43}$/);
      // only the hash is stored
      const rows = await t.db.selectFrom('sessions').select('token_hash').execute();
      assert.ok(rows.every((row) => row.token_hash !== token));

      const page = await b.get('/dashboard/overview');
      assert.equal(page.status, 200);
      assert.equal(
        page.headers.get('content-security-policy'),
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
      );
      assert.match(page.text, /Ann &lt;Duka&gt;/); // escaped, never raw
      assert.match(page.text, /No payments yet/);
      assert.match(page.text, /Welcome to Malipo/); // the flash from sign-up
      assert.doesNotMatch(page.text, /<script>|style=/);

      // the email is stored lower-cased and unique ignoring case
      const again = await new DashboardClient(t.url).signUp(mail, PASSWORD, 'Copy');
      assert.equal(again.status, 409);
      assert.match(again.text, /already exists/);

      const out = await b.post('/dashboard/logout', {});
      assert.equal(out.status, 303);
      assert.equal(out.location, '/dashboard/login');
      // the old cookie, replayed, no longer works: the row is revoked
      const replay = new DashboardClient(t.url);
      replay.cookies.set('malipo_session', token);
      const refused = await replay.get('/dashboard/settings');
      assert.equal(refused.status, 303);
      assert.match(refused.location ?? '', /^\/dashboard\/login\?next=/);

      const back = await b.logIn(mail, PASSWORD);
      assert.equal(back.status, 303, back.text);
      assert.equal((await b.get('/dashboard/settings')).status, 200);
    });

    it('refuses a POST without the CSRF token, with a wrong one, or from another origin', async () => {
      const b = new DashboardClient(t.url);
      const mail = email('csrf');
      await b.signUp(mail, PASSWORD, 'Csrf Shop');
      await b.get('/dashboard/settings');
      const good = b.csrf;
      const form = { currentPassword: PASSWORD, newPassword: 'another good password' };

      const missing = await b.post('/dashboard/settings/password', { ...form, _csrf: null });
      assert.equal(missing.status, 403);
      assert.match(missing.text, /data-code="FORBIDDEN"/);
      const wrong = await b.post('/dashboard/settings/password', {
        ...form,
        _csrf: `${good.slice(0, -2)}xx`,
      });
      assert.equal(wrong.status, 403);
      const foreign = await b.post(
        '/dashboard/settings/password',
        { ...form, _csrf: good },
        { origin: 'https://evil.example' },
      );
      assert.equal(foreign.status, 403);
      const noOrigin = await b.post(
        '/dashboard/settings/password',
        { ...form, _csrf: good },
        { origin: null },
      );
      assert.equal(noOrigin.status, 403);
      const sameReferer = await b.post(
        '/dashboard/settings/password',
        { currentPassword: 'not it at all', newPassword: 'another good password', _csrf: good },
        { origin: null, headers: { referer: `${t.url}/dashboard/settings` } },
      );
      assert.equal(sameReferer.status, 400); // past the checks, to the form's own validation

      // another session's token is not this session's
      const other = new DashboardClient(t.url);
      await other.signUp(email('csrf2'), PASSWORD, 'Other');
      await other.get('/dashboard/settings');
      const crossed = await b.post('/dashboard/settings/password', { ...form, _csrf: other.csrf });
      assert.equal(crossed.status, 403);

      // only small url-encoded forms: a large one is refused before any handler, JSON carries no token
      const large = await b.post('/dashboard/settings/password', {
        ...form,
        _csrf: good,
        pad: 'x'.repeat(20_000),
      });
      assert.equal(large.status, 413);
      assert.match(large.text, /larger than 16 KiB/);
      const json = await fetch(`${t.url}/dashboard/settings/password`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: b.cookieHeader(), origin: t.url },
        body: JSON.stringify({ ...form, _csrf: good }),
      });
      assert.equal(json.status, 403);

      // the signed-out forms carry a pre-session token
      const anon = new DashboardClient(t.url);
      const noToken = await anon.post('/dashboard/login', { email: mail, password: PASSWORD, _csrf: null });
      assert.equal(noToken.status, 403);
      // nothing changed: the password is still the first one
      assert.equal((await new DashboardClient(t.url).logIn(mail, PASSWORD)).status, 303);
    });

    it('slows sign-in down after 5 failures, then locks for 15 minutes, without telling which emails exist', async () => {
      const b = new DashboardClient(t.url);
      const mail = email('brute');
      await b.signUp(mail, PASSWORD, 'Brute Shop');
      const attacker = new DashboardClient(t.url);
      await attacker.get('/dashboard/login');
      // this test proves the per-email bucket alone: the per-IP one (next test) is emptied after each attempt
      const tryLogin = async (e: string, p: string) => {
        const r = await attacker.post('/dashboard/login', { email: e, password: p });
        await t.db.deleteFrom('login_failures').where('bucket', 'like', 'ip:%').execute();
        return r;
      };

      const unknown = await tryLogin(email('nobody'), 'wrong password 1');
      const known = await tryLogin(mail, 'wrong password 1');
      assert.equal(unknown.status, 401);
      assert.equal(known.status, 401);
      const messageOf = (s: string) => /role="alert">([^<]*)</.exec(s)?.[1];
      assert.equal(messageOf(known.text), messageOf(unknown.text));
      assert.equal(messageOf(known.text), 'The email or password is not right.');

      for (let i = 2; i <= 5; i++) assert.equal((await tryLogin(mail, `wrong password ${i}`)).status, 401);
      // 5 failures: the next attempt, even with the right password, must wait
      const slowed = await tryLogin(mail, PASSWORD);
      assert.equal(slowed.status, 429);
      assert.match(slowed.text, /Too many sign-in attempts/);
      assert.ok(Number(slowed.headers.get('retry-after')) >= 1);
      for (let i = 6; i <= 10; i++) {
        clock += 61_000;
        assert.equal((await tryLogin(mail, `wrong password ${i}`)).status, 401, `failure ${i}`);
      }
      // 10 failures: locked for 15 minutes, the right password included
      clock += 61_000;
      const locked = await tryLogin(mail, PASSWORD);
      assert.equal(locked.status, 429);
      assert.match(locked.text, /minutes/);
      clock += 13 * 60_000; // 14 minutes after the lock
      assert.equal((await tryLogin(mail, PASSWORD)).status, 429);
      clock += 2 * 60_000;
      assert.equal((await tryLogin(mail, PASSWORD)).status, 303);
    });

    it('throttles per client IP across emails too', async () => {
      const attacker = new DashboardClient(t.url);
      await attacker.get('/dashboard/login');
      // the test app does not trust proxies, so every request comes from 127.0.0.1: use a fresh clock window
      clock += 60 * 60_000;
      await t.db.deleteFrom('login_failures').execute();
      for (let i = 1; i <= 5; i++) {
        assert.equal(
          (await attacker.post('/dashboard/login', { email: email(`spray${i}`), password: 'x'.repeat(12) }))
            .status,
          401,
        );
      }
      const sixth = await attacker.post('/dashboard/login', {
        email: email('spray6'),
        password: 'x'.repeat(12),
      });
      assert.equal(sixth.status, 429);
      clock += 60 * 60_000;
    });

    it('hands out invite links; the invitee sets a password, joins with the role, and the link works once', async () => {
      const owner = new DashboardClient(t.url);
      await owner.signUp(email('owner'), PASSWORD, 'Invite Shop');
      const merchantId = (
        await t.db
          .selectFrom('merchants')
          .select('id')
          .where('name', '=', 'Invite Shop')
          .executeTakeFirstOrThrow()
      ).id;
      const mail = email('dev');
      const inv = await adminMerchantInvite(
        { db: t.db, secretBox: t.secretBox, publicUrl: t.url, channelPolicy: DEVELOPMENT_CHANNEL_POLICY },
        { merchant: merchantId, email: mail, role: 'developer' },
      );
      assert.match(inv.url, /\/dashboard\/invite\/[A-Za-z0-9_-]{43}$/);
      assert.ok(new Date(inv.expiresAt).getTime() - Date.now() > 6.9 * 24 * 3600_000);
      const stored = await t.db.selectFrom('account_tokens').select('token_hash').execute();
      const token = inv.url.split('/').pop()!;
      assert.ok(stored.every((s) => s.token_hash !== token));

      const path = new URL(inv.url).pathname;
      const dev = new DashboardClient(t.url);
      const shown = await dev.get(path);
      assert.equal(shown.status, 200);
      assert.match(shown.text, /Invite Shop/);
      const short = await dev.post(path, { password: 'short' });
      assert.equal(short.status, 400);
      assert.match(short.text, /at least 10/);
      const ok = await dev.post(path, { password: 'a developer password' });
      assert.equal(ok.status, 303, ok.text);
      const settings = await dev.get('/dashboard/settings');
      assert.match(settings.text, /id="account-role">Developer/);
      assert.match(settings.text, /id="business">Invite Shop/);
      // once only
      assert.equal((await new DashboardClient(t.url).get(path)).status, 410);
      // and the password works for signing in
      assert.equal((await new DashboardClient(t.url).logIn(mail, 'a developer password')).status, 303);
      // unknown role and unknown merchant are refused by the command
      await assert.rejects(
        adminMerchantInvite(
          { db: t.db, secretBox: t.secretBox, channelPolicy: DEVELOPMENT_CHANNEL_POLICY },
          { merchant: merchantId, email: mail, role: 'admin' },
        ),
        /role/,
      );
      await assert.rejects(
        adminMerchantInvite(
          { db: t.db, secretBox: t.secretBox, channelPolicy: DEVELOPMENT_CHANNEL_POLICY },
          { merchant: 'mer_nope', email: mail, role: 'viewer' },
        ),
        /not found/,
      );
    });

    it('changing the password needs the current one and signs out the other sessions', async () => {
      const mail = email('pw');
      const one = new DashboardClient(t.url);
      await one.signUp(mail, PASSWORD, 'Password Shop');
      const two = new DashboardClient(t.url);
      assert.equal((await two.logIn(mail, PASSWORD)).status, 303);
      assert.equal((await two.get('/dashboard/settings')).status, 200);

      const wrong = await one.submit('/dashboard/settings', '/dashboard/settings/password', {
        currentPassword: 'not the password',
        newPassword: 'a brand new password',
      });
      assert.equal(wrong.status, 400);
      assert.match(wrong.text, /id="currentPassword-error">The current password is not right/);
      const tooShort = await one.post('/dashboard/settings/password', {
        currentPassword: PASSWORD,
        newPassword: 'short',
      });
      assert.equal(tooShort.status, 400);
      assert.match(tooShort.text, /id="newPassword-error">Use at least 10 characters/);

      const changed = await one.post('/dashboard/settings/password', {
        currentPassword: PASSWORD,
        newPassword: 'a brand new password',
      });
      assert.equal(changed.status, 303, changed.text);
      const after = await one.get('/dashboard/settings');
      assert.equal(after.status, 200);
      assert.match(after.text, /1 other session was signed out/);
      assert.equal((await two.get('/dashboard/settings')).status, 303); // revoked
      assert.equal((await new DashboardClient(t.url).logIn(mail, PASSWORD)).status, 401);
      assert.equal((await new DashboardClient(t.url).logIn(mail, 'a brand new password')).status, 303);
    });

    it("a session sees and changes only its own merchant's data, in its environment", async () => {
      const a = new DashboardClient(t.url);
      const b = new DashboardClient(t.url);
      await a.signUp(email('a'), PASSWORD, 'Shop A');
      await b.signUp(email('b'), PASSWORD, 'Shop B');
      const idOf = async (name: string) =>
        (await t.db.selectFrom('merchants').select('id').where('name', '=', name).executeTakeFirstOrThrow())
          .id;
      const aId = await idOf('Shop A');
      const bId = await idOf('Shop B');
      await insertPayment(t, aId, { reference: 'AONE' });
      await insertPayment(t, aId, { reference: 'ALIVE', environment: 'live' });
      await insertPayment(t, bId, { reference: 'BONE' });

      const overview = await a.get('/dashboard/overview');
      assert.match(overview.text, /AONE/);
      assert.doesNotMatch(overview.text, /BONE|ALIVE/);
      const settings = await a.get('/dashboard/settings');
      assert.doesNotMatch(settings.text, /Shop B|\.b\./);

      // the toggle switches the session (and so the AuthContext) to live
      const toggled = await a.post('/dashboard/environment', {
        environment: 'live',
        back: '/dashboard/overview',
      });
      assert.equal(toggled.status, 303);
      const live = await a.get('/dashboard/overview');
      assert.match(live.text, /ALIVE/);
      assert.doesNotMatch(live.text, /AONE|BONE/);

      // an invite A's owner makes is for A: B's members never change
      const inv = await a.submit('/dashboard/settings', '/dashboard/settings/invite', {
        email: email('newbie'),
        role: 'viewer',
      });
      assert.equal(inv.status, 200);
      const bMembers = await t.db
        .selectFrom('memberships')
        .select('user_id')
        .where('merchant_id', '=', bId)
        .execute();
      assert.equal(bMembers.length, 1);
      const invites = await t.db
        .selectFrom('account_tokens')
        .select('merchant_id')
        .where('kind', '=', 'invite')
        .where('merchant_id', '=', bId)
        .execute();
      assert.equal(invites.length, 0);

      // B's session token never opens A's pages (one session, one merchant)
      const bOverview = await b.get('/dashboard/overview');
      assert.match(bOverview.text, /BONE/);
      assert.doesNotMatch(bOverview.text, /AONE|ALIVE/);
    });

    it('a viewer cannot mutate: MISSING_SCOPE from the API rule, and no team management', async () => {
      const owner = new DashboardClient(t.url);
      await owner.signUp(email('vowner'), PASSWORD, 'Viewer Shop');
      const inviteRes = await owner.submit('/dashboard/settings', '/dashboard/settings/invite', {
        email: email('viewer'),
        role: 'viewer',
      });
      const link = /id="invite-link">([^<]+)</.exec(inviteRes.text)![1]!;
      const viewer = new DashboardClient(t.url);
      await viewer.get(new URL(link).pathname);
      assert.equal(
        (await viewer.post(new URL(link).pathname, { password: 'a viewer password' })).status,
        303,
      );

      const refused = await viewer.submit('/dashboard/test-keys', '/dashboard/test-keys', { label: 'nope' });
      assert.match(refused.text, /^refused .*MISSING_SCOPE|^refused .*keys:manage/);
      assert.match(refused.text, /keys:manage/);
      const created = await owner.submit('/dashboard/test-keys', '/dashboard/test-keys', { label: 'yes' });
      assert.match(created.text, /^created key_/);
      // the audit log names the person, not a key
      const audit = await t.db
        .selectFrom('audit_log')
        .select('actor')
        .where('action', '=', 'key.create')
        .orderBy('created_at', 'desc')
        .executeTakeFirstOrThrow();
      assert.match(audit.actor, /^usr_/);

      const team = await viewer.submit('/dashboard/settings', '/dashboard/settings/invite', {
        email: email('x'),
        role: 'owner',
      });
      assert.equal(team.status, 403);
      assert.match(team.text, /data-code="FORBIDDEN"/);
      assert.doesNotMatch((await viewer.get('/dashboard/settings')).text, /invite-create-form/);
    });

    it("the dev bootstrap's sign-in link opens the demo merchant once, and each start mints a new one", async () => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'malipo-dash-'));
      clock = Date.now(); // the links are minted on the wall clock
      try {
        const config = { isProduction: false, dataDir, publicUrl: t.url };
        const first = await ensureDevCredentials({ config, db: t.db, secretBox: t.secretBox });
        const link = new URL(first!.dashboardSignInUrl!).pathname;
        const c = new DashboardClient(t.url);
        const r = await c.get(link);
        assert.equal(r.status, 303);
        assert.equal(r.location, '/dashboard/overview');
        const settings = await c.get('/dashboard/settings');
        assert.match(settings.text, /id="business">Demo merchant/);
        assert.match(settings.text, /id="account-role">Owner/);
        assert.equal((await new DashboardClient(t.url).get(link)).status, 410); // single use
        const second = await ensureDevCredentials({ config, db: t.db, secretBox: t.secretBox });
        assert.equal(second!.dashboardUserId, first!.dashboardUserId);
        assert.notEqual(second!.dashboardSignInUrl, first!.dashboardSignInUrl);
        // short-lived: 15 minutes
        const expired = new DashboardClient(t.url);
        const saved = clock;
        clock = Date.now() + 16 * 60_000;
        try {
          assert.equal((await expired.get(new URL(second!.dashboardSignInUrl!).pathname)).status, 410);
        } finally {
          clock = saved;
        }
        assert.equal((await expired.get(new URL(second!.dashboardSignInUrl!).pathname)).status, 303);
      } finally {
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    });

    it('refuses sign-up when MALIPO_SIGNUP=closed', async () => {
      const closed = await startTestApp({ db: handle, env: { MALIPO_SIGNUP: 'closed' } });
      try {
        const c = new DashboardClient(closed.url);
        const page = await c.get('/dashboard/signup');
        assert.equal(page.status, 403);
        const login = await c.get('/dashboard/login');
        assert.doesNotMatch(login.text, /href="\/dashboard\/signup"/);
        const mail = email('closed');
        const post = await c.post('/dashboard/signup', {
          email: mail,
          password: PASSWORD,
          businessName: 'Closed Shop',
        });
        assert.equal(post.status, 403);
        const users = await closed.db.selectFrom('users').select('id').where('email', '=', mail).execute();
        assert.equal(users.length, 0);
      } finally {
        await closed.close();
      }
    });
  });
}
