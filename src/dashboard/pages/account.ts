/**
 * Signing in and out: sign-in (throttled), sign-up (when MALIPO_SIGNUP=open), sign-out, the test/live
 * toggle, invite links (set a password and join a merchant) and one-time sign-in links (the dev banner's).
 */
import { createSession, revokeSession, setSessionEnvironment } from '../../accounts/sessions';
import { PasswordSchema } from '../../accounts/passwords';
import { clearFailures, loginBuckets, recordFailure, throttleWait } from '../../accounts/throttle';
import { consumeToken, peekToken } from '../../accounts/tokens';
import {
  addMembership,
  checkCredentials,
  findUserByEmail,
  insertUser,
  membershipsOf,
  SignUpSchema,
  signUp,
} from '../../accounts/users';
import { hashPassword } from '../../accounts/passwords';
import { findMerchant } from '../../platform/merchants';
import { parseOrThrow } from '../../http/errors';
import { html } from '../../http/html';
import { field, formError, type FormErrors, formErrors } from '../layout';
import type { PageModule, PublicContext } from '../page-types';
import { SESSION_COOKIE, safeNext } from '../session';

const WRONG = 'The email or password is not right.';

function waitText(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return s < 90 ? `${s} second${s === 1 ? '' : 's'}` : `${Math.ceil(s / 60)} minutes`;
}

function loginForm(ctx: PublicContext, v: { email?: string; next?: string; errors?: FormErrors }) {
  const signupOpen = ctx.deps.config.signup === 'open';
  return html`${formError(v.errors)}<form method="post" action="/dashboard/login" class="card" id="login-form">
${ctx.csrf}<input type="hidden" name="next" value="${v.next ?? ''}">
${field({ name: 'email', label: 'Email', type: 'email', value: v.email, autocomplete: 'username', required: true })}
${field({ name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', required: true })}
<button type="submit" class="primary wide">Sign in</button>
</form>
${signupOpen ? html`<p class="center">New to Malipo? <a href="/dashboard/signup">Create an account</a></p>` : html`<p class="center muted small">Accounts are created by invitation from your Malipo operator.</p>`}`;
}

function signupForm(ctx: PublicContext, v: { email?: string; businessName?: string; errors?: FormErrors }) {
  const f = v.errors?.fields ?? {};
  return html`${formError(v.errors)}<form method="post" action="/dashboard/signup" class="card" id="signup-form">
${ctx.csrf}
${field({ name: 'businessName', label: 'Business name', value: v.businessName, autocomplete: 'organization', required: true, error: f.businessName })}
${field({ name: 'email', label: 'Email', type: 'email', value: v.email, autocomplete: 'username', required: true, error: f.email })}
${field({ name: 'password', label: 'Password', type: 'password', hint: 'At least 10 characters', autocomplete: 'new-password', required: true, error: f.password })}
<button type="submit" class="primary wide">Create account</button>
</form>
<p class="center">Already have an account? <a href="/dashboard/login">Sign in</a></p>`;
}

const closed = (ctx: PublicContext) =>
  ctx.render(
    {
      title: 'Sign-up is closed',
      body: html`<div class="card" id="signup-closed" data-code="FORBIDDEN"><p>New accounts on this Malipo are created by invitation. Ask your Malipo operator for an invite link.</p><p><a href="/dashboard/login">Sign in</a></p></div>`,
    },
    403,
  );

export const accountPages: PageModule = (pages) => {
  pages.publicGet('/login', (ctx) => {
    if (ctx.session) return ctx.redirect(safeNext(ctx.query.next));
    return ctx.render({ title: 'Sign in to Malipo', body: loginForm(ctx, { next: ctx.query.next }) });
  });

  pages.publicPost('/login', async (ctx) => {
    const email = (ctx.form.email ?? '').trim().slice(0, 254);
    const password = ctx.form.password ?? '';
    const next = ctx.form.next;
    const db = ctx.deps.db;
    const buckets = loginBuckets(email, ctx.req.ip ?? ctx.req.socket.remoteAddress ?? 'unknown');
    const wait = await throttleWait(db, buckets, ctx.now);
    if (wait > 0) {
      ctx.res.setHeader('Retry-After', String(Math.ceil(wait / 1000)));
      return ctx.render(
        {
          title: 'Sign in to Malipo',
          body: loginForm(ctx, {
            email,
            next,
            errors: { message: `Too many sign-in attempts. Try again in ${waitText(wait)}.`, fields: {} },
          }),
        },
        429,
      );
    }
    // an over-long password is a failure like any other, without spending scrypt on it
    const user = password.length <= 200 && email ? await checkCredentials(db, email, password) : undefined;
    const memberships = user ? await membershipsOf(db, user.id) : [];
    const first = memberships[0];
    if (!user || !first) {
      await recordFailure(db, buckets, ctx.now);
      return ctx.render(
        {
          title: 'Sign in to Malipo',
          body: loginForm(ctx, { email, next, errors: { message: WRONG, fields: {} } }),
        },
        401,
      );
    }
    await clearFailures(db, buckets[0]!);
    const s = await createSession(db, { userId: user.id, merchantId: first.merchantId }, ctx.now);
    ctx.setSessionCookie(s.token, s.expiresAt);
    return ctx.redirect(safeNext(next));
  });

  pages.publicGet('/signup', (ctx) => {
    if (ctx.deps.config.signup !== 'open') return closed(ctx);
    return ctx.render({ title: 'Create your Malipo account', body: signupForm(ctx, {}) });
  });

  pages.publicPost('/signup', async (ctx) => {
    if (ctx.deps.config.signup !== 'open') return closed(ctx);
    const v = { email: ctx.form.email, businessName: ctx.form.businessName };
    try {
      const input = parseOrThrow(SignUpSchema, ctx.form, 'form');
      const { user, merchant } = await signUp(ctx.deps.db, input);
      const s = await createSession(ctx.deps.db, { userId: user.id, merchantId: merchant.id }, ctx.now);
      ctx.setSessionCookie(s.token, s.expiresAt);
      ctx.flash('ok', `Welcome to Malipo. ${merchant.name} is ready in test mode.`);
      return ctx.redirect('/dashboard/overview');
    } catch (err) {
      const errors = formErrors(err);
      return ctx.render(
        { title: 'Create your Malipo account', body: signupForm(ctx, { ...v, errors }) },
        (err as { status?: number }).status ?? 400,
      );
    }
  });

  pages.post('/logout', async (ctx) => {
    await revokeSession(ctx.deps.db, ctx.session.id, ctx.now);
    ctx.res.append('Set-Cookie', `${SESSION_COOKIE}=; Path=/dashboard; HttpOnly; SameSite=Lax; Max-Age=0`);
    ctx.flash('ok', 'You are signed out.');
    return ctx.redirect('/dashboard/login');
  });

  pages.post('/environment', async (ctx) => {
    const env = ctx.form.environment === 'live' ? 'live' : 'test';
    await setSessionEnvironment(ctx.deps.db, ctx.session.id, env);
    ctx.flash('ok', env === 'live' ? 'Showing live data.' : 'Showing test data.');
    return ctx.redirect(safeNext(ctx.form.back));
  });

  const gone = (ctx: PublicContext, what: string) =>
    ctx.render(
      {
        title: `This ${what} link does not work`,
        body: html`<div class="card" id="link-gone" data-code="GONE"><p>It may have been used already, have expired, or been copied incompletely. Ask for a new one.</p><p><a href="/dashboard/login">Sign in</a></p></div>`,
      },
      410,
    );

  const inviteForm = async (ctx: PublicContext, token: string, errors?: FormErrors) => {
    const invite = await peekToken(ctx.deps.db, token, 'invite', ctx.now);
    if (!invite?.email) return undefined;
    const merchant = await findMerchant(ctx.deps.db, invite.merchantId);
    const existing = await findUserByEmail(ctx.deps.db, invite.email);
    const known = Boolean(existing?.passwordHash);
    const body = html`<div class="card"><p>You are invited to <strong id="invite-merchant">${merchant?.name ?? ''}</strong> as <strong>${invite.role}</strong>, with the email <strong>${invite.email}</strong>.</p></div>
${formError(errors)}<form method="post" action="/dashboard/invite/${token}" class="card" id="invite-form">
${ctx.csrf}
${
  known
    ? field({
        name: 'password',
        label: 'Your Malipo password',
        type: 'password',
        hint: 'You already have an account: confirm it is you.',
        autocomplete: 'current-password',
        required: true,
        error: errors?.fields.password,
      })
    : field({
        name: 'password',
        label: 'Choose a password',
        type: 'password',
        hint: 'At least 10 characters',
        autocomplete: 'new-password',
        required: true,
        error: errors?.fields.password,
      })
}
<button type="submit" class="primary wide">Accept the invitation</button>
</form>`;
    return { invite, known, body };
  };

  pages.publicGet('/invite/:token', async (ctx) => {
    const f = await inviteForm(ctx, ctx.params.token ?? '');
    if (!f) return gone(ctx, 'invitation');
    return ctx.render({ title: 'Join on Malipo', body: f.body });
  });

  pages.publicPost('/invite/:token', async (ctx) => {
    const token = ctx.params.token ?? '';
    const db = ctx.deps.db;
    const f = await inviteForm(ctx, token);
    if (!f?.invite.email || !f.invite.role) return gone(ctx, 'invitation');
    const { invite } = f;
    const email = invite.email!;
    const password = ctx.form.password ?? '';
    let userId: string;
    if (f.known) {
      const buckets = loginBuckets(email, ctx.req.ip ?? 'unknown');
      const wait = await throttleWait(db, buckets, ctx.now);
      const user =
        wait > 0 || password.length > 200 ? undefined : await checkCredentials(db, email, password);
      if (!user) {
        if (wait === 0) await recordFailure(db, buckets, ctx.now);
        const again = await inviteForm(ctx, token, {
          message:
            wait > 0 ? `Too many attempts. Try again in ${waitText(wait)}.` : 'That password is not right.',
          fields: { password: 'Enter the password of your Malipo account' },
        });
        return ctx.render({ title: 'Join on Malipo', body: again!.body }, wait > 0 ? 429 : 401);
      }
      if (!(await consumeToken(db, token, 'invite', ctx.now))) return gone(ctx, 'invitation');
      userId = user.id;
    } else {
      const parsed = PasswordSchema.safeParse(password);
      if (!parsed.success) {
        const again = await inviteForm(ctx, token, {
          message: 'Choose a longer or shorter password.',
          fields: { password: parsed.error.issues[0]?.message ?? 'Invalid password' },
        });
        return ctx.render({ title: 'Join on Malipo', body: again!.body }, 400);
      }
      if (!(await consumeToken(db, token, 'invite', ctx.now))) return gone(ctx, 'invitation');
      const hash = await hashPassword(parsed.data);
      const existing = await findUserByEmail(db, email);
      if (existing) {
        // invited before but never set a password
        await db
          .updateTable('users')
          .set({ password_hash: hash, updated_at: ctx.now })
          .where('id', '=', existing.id)
          .execute();
        userId = existing.id;
      } else {
        userId = (await insertUser(db, email, hash)).id;
      }
    }
    await addMembership(
      db,
      { userId, merchantId: invite.merchantId, role: invite.role! },
      `invite:${userId}`,
    );
    const s = await createSession(db, { userId, merchantId: invite.merchantId }, ctx.now);
    ctx.setSessionCookie(s.token, s.expiresAt);
    ctx.flash('ok', 'Welcome. You have joined the team.');
    return ctx.redirect('/dashboard/overview');
  });

  pages.publicGet('/sign-in/:token', async (ctx) => {
    const t = await consumeToken(ctx.deps.db, ctx.params.token ?? '', 'sign_in', ctx.now);
    if (!t?.userId) return gone(ctx, 'sign-in');
    const s = await createSession(ctx.deps.db, { userId: t.userId, merchantId: t.merchantId }, ctx.now);
    ctx.setSessionCookie(s.token, s.expiresAt);
    return ctx.redirect('/dashboard/overview');
  });
};
