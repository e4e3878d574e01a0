/** Settings: the account (email, role, business), the password change, and the team (owners invite people). */
import { z } from 'zod';
import { PasswordSchema } from '../../accounts/passwords';
import { isRole, ROLES } from '../../accounts/roles';
import { revokeOtherSessions } from '../../accounts/sessions';
import { createInvite } from '../../accounts/tokens';
import { changePassword, EmailSchema, membersOf } from '../../accounts/users';
import { MalipoError } from '../../domain/errors';
import { parseOrThrow } from '../../http/errors';
import { html, type SafeHtml } from '../../http/html';
import { field, formError, type FormErrors, formErrors, select } from '../layout';
import type { PageContext, PageModule } from '../page-types';

const ChangePasswordSchema = z
  .object({
    currentPassword: z.string().min(1, 'Enter your current password').max(200),
    newPassword: PasswordSchema,
  })
  .refine((v) => v.currentPassword !== v.newPassword, {
    path: ['newPassword'],
    message: 'Choose a password different from the current one',
  });

const InviteSchema = z.object({
  email: EmailSchema,
  role: z.string().refine(isRole, 'Choose owner, developer or viewer'),
});

const ROLE_TEXT = {
  owner: 'Owner: everything, including the team',
  developer: 'Developer: keys, channels, webhooks, links, payments and payouts; not the team',
  viewer: 'Viewer: reads payments, payouts and channels; changes nothing',
} as const;

async function settingsBody(
  ctx: PageContext,
  state: {
    password?: FormErrors;
    invite?: FormErrors;
    inviteEmail?: string;
    inviteRole?: string;
    inviteLink?: SafeHtml;
  },
): Promise<SafeHtml> {
  const s = ctx.session;
  const owner = s.role === 'owner';
  const members = await membersOf(ctx.deps.db, s.merchantId);
  const pw = state.password?.fields ?? {};
  const inv = state.invite?.fields ?? {};
  return html`<section class="card" aria-labelledby="account-h"><h2 id="account-h">Account</h2>
<dl class="props">
<dt>Email</dt><dd id="account-email">${s.email}</dd>
<dt>Role</dt><dd id="account-role">${ROLE_TEXT[s.role]}</dd>
<dt>Business</dt><dd>${s.merchantName}</dd>
<dt>Merchant id</dt><dd class="mono">${s.merchantId} <button type="button" class="copy" data-copy="${s.merchantId}" hidden>Copy</button></dd>
<dt>Showing</dt><dd>${s.environment === 'live' ? 'Live data' : 'Test data'}</dd>
</dl></section>

<section class="card" aria-labelledby="password-h"><h2 id="password-h">Change password</h2>
<p class="muted small">Your other signed-in browsers are signed out when the password changes.</p>
${formError(state.password)}
<form method="post" action="/dashboard/settings/password" id="password-form">
${ctx.csrf}
${field({ name: 'currentPassword', label: 'Current password', type: 'password', autocomplete: 'current-password', required: true, error: pw.currentPassword })}
${field({ name: 'newPassword', label: 'New password', type: 'password', hint: 'At least 10 characters', autocomplete: 'new-password', required: true, error: pw.newPassword })}
<button type="submit" class="primary">Change password</button>
</form></section>

<section class="card" aria-labelledby="team-h"><h2 id="team-h">Team</h2>
<div class="table-wrap"><table id="team"><thead><tr><th scope="col">Email</th><th scope="col">Role</th></tr></thead><tbody>
${members.map((m) => html`<tr><td>${m.email}${m.hasPassword ? '' : html` <span class="badge">invited</span>`}</td><td>${m.role}</td></tr>`)}
</tbody></table></div>
${
  owner
    ? html`<h3>Invite someone</h3>
${state.inviteLink ?? ''}
${formError(state.invite)}
<form method="post" action="/dashboard/settings/invite" id="invite-create-form">
${ctx.csrf}
${field({ name: 'email', label: 'Email', type: 'email', value: state.inviteEmail, required: true, error: inv.email })}
${select({ name: 'role', label: 'Role', value: state.inviteRole ?? 'developer', error: inv.role, options: ROLES.map((r) => ({ value: r, label: r[0]!.toUpperCase() + r.slice(1) })) })}
<ul class="muted small">${ROLES.map((r) => html`<li>${ROLE_TEXT[r]}</li>`)}</ul>
<button type="submit" class="secondary">Create an invite link</button>
</form>`
    : html`<p class="muted small">Only an owner can invite people.</p>`
}
</section>`;
}

export const settingsPages: PageModule = (pages) => {
  pages.get('/settings', async (ctx) =>
    ctx.render({ title: 'Settings', active: 'settings', body: await settingsBody(ctx, {}) }),
  );

  pages.post('/settings/password', async (ctx) => {
    try {
      const v = parseOrThrow(ChangePasswordSchema, ctx.form, 'form');
      await changePassword(ctx.deps.db, ctx.session.userId, v.currentPassword, v.newPassword);
    } catch (err) {
      const errors = formErrors(err);
      return ctx.render(
        { title: 'Settings', active: 'settings', body: await settingsBody(ctx, { password: errors }) },
        400,
      );
    }
    const n = await revokeOtherSessions(ctx.deps.db, ctx.session.userId, ctx.session.id, ctx.now);
    ctx.flash(
      'ok',
      `Password changed.${n > 0 ? ` ${n} other session${n === 1 ? ' was' : 's were'} signed out.` : ''}`,
    );
    return ctx.redirect('/dashboard/settings');
  });

  pages.post(
    '/settings/invite',
    async (ctx) => {
      const state = { inviteEmail: ctx.form.email, inviteRole: ctx.form.role };
      try {
        const v = parseOrThrow(InviteSchema, ctx.form, 'form');
        if (!isRole(v.role)) throw new MalipoError('VALIDATION_ERROR', 'Choose a role');
        const { token, expiresAt } = await createInvite(
          ctx.deps.db,
          { merchantId: ctx.session.merchantId, email: v.email, role: v.role },
          ctx.session.userId,
          ctx.now,
        );
        const url = `${ctx.deps.config.publicUrl}/dashboard/invite/${token}`;
        const link = html`<p class="flash ok" role="status">Send this link to ${v.email} (it works once, until ${expiresAt.toISOString().slice(0, 10)}):<br><span class="mono" id="invite-link">${url}</span> <button type="button" class="copy" data-copy="${url}" hidden>Copy</button></p>`;
        return ctx.render({
          title: 'Settings',
          active: 'settings',
          body: await settingsBody(ctx, { inviteLink: link }),
        });
      } catch (err) {
        const errors = formErrors(err);
        return ctx.render(
          {
            title: 'Settings',
            active: 'settings',
            body: await settingsBody(ctx, { ...state, invite: errors }),
          },
          400,
        );
      }
    },
    { ownerOnly: true },
  );
};
