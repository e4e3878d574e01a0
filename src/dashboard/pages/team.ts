/**
 * Team: everyone sees the merchant's members and their roles; owners invite people with a role
 * (an invite link, as under Settings), change a member's role and remove a member (after a
 * confirmation page). A business keeps at least one owner (src/accounts/team.ts refuses otherwise).
 * Team management is not an API scope: the POSTs are `ownerOnly`.
 */
import { z } from 'zod';
import { isRole, ROLES, type Role } from '../../accounts/roles';
import { removeMember, setMemberRole } from '../../accounts/team';
import { createInvite } from '../../accounts/tokens';
import { EmailSchema, membersOf } from '../../accounts/users';
import { MalipoError, notFound } from '../../domain/errors';
import { parseOrThrow } from '../../http/errors';
import { html, type SafeHtml } from '../../http/html';
import { field, formError, type FormErrors, formErrors, select } from '../layout';
import type { PageContext, PageModule } from '../page-types';

const ROLE_TEXT: Record<Role, string> = {
  owner: 'Owner: everything, including the team',
  developer: 'Developer: everything but the team',
  viewer: 'Viewer: reads payments, payouts and channels',
};

const InviteSchema = z.object({
  email: EmailSchema,
  role: z.string().refine(isRole, 'Choose owner, developer or viewer'),
});

const USER_ID = /^usr_[0-9A-Za-z]{6,64}$/;

const userIdOf = (ctx: PageContext): string => {
  const id = ctx.params.userId ?? '';
  if (!USER_ID.test(id)) throw notFound('Team member');
  return id;
};

const roleOptions = ROLES.map((r) => ({ value: r, label: ROLE_TEXT[r].split(':')[0]! }));

async function teamPage(
  ctx: PageContext,
  state: {
    errors?: FormErrors;
    inviteErrors?: FormErrors;
    invite?: { email?: string; role?: string };
    inviteLink?: SafeHtml;
  } = {},
  status = 200,
) {
  const s = ctx.session;
  const owner = s.role === 'owner';
  const members = await membersOf(ctx.deps.db, s.merchantId);
  const inv = state.inviteErrors?.fields ?? {};
  const rows = members.map(
    (m) =>
      html`<tr data-user-id="${m.id}"><td>${m.email}${m.id === s.userId ? html` <span class="badge">you</span>` : ''}${
        m.hasPassword ? '' : html` <span class="badge">invited</span>`
      }</td><td>${
        owner
          ? html`<div class="inline-form"><form method="post" action="/dashboard/team/${m.id}/role" class="inline-form">${ctx.csrf}<label for="role-${m.id}" class="sr-only">Role of ${m.email}</label><select id="role-${m.id}" name="role">${ROLES.map(
              (r) => html`<option value="${r}"${r === m.role ? html` selected` : ''}>${r}</option>`,
            )}</select> <button type="submit" class="secondary small-button">Change</button></form> <a class="button danger small-button" href="/dashboard/team/${m.id}/remove">Remove…</a></div>`
          : m.role
      }</td></tr>`,
  );
  const body = html`${formError(state.errors)}
<div class="table-wrap spaced"><table id="team-members"><thead><tr><th scope="col">Email</th><th scope="col">Role</th></tr></thead><tbody>${rows}</tbody></table></div>
<div class="card"><dl class="props small">${ROLES.map((r) => html`<dt>${r}</dt><dd>${ROLE_TEXT[r].split(': ')[1]}</dd>`)}</dl></div>
${
  owner
    ? html`<section class="card" aria-labelledby="invite-h"><h2 id="invite-h">Invite someone</h2>
${state.inviteLink ?? ''}
${formError(state.inviteErrors)}
<form method="post" action="/dashboard/team/invite" id="team-invite-form">
${ctx.csrf}
${field({ name: 'email', label: 'Email', type: 'email', value: state.invite?.email, required: true, error: inv.email })}
${select({ name: 'role', label: 'Role', value: state.invite?.role ?? 'developer', error: inv.role, options: roleOptions })}
<button type="submit" class="primary">Create an invite link</button>
</form></section>`
    : html`<p class="muted small">Only an owner can change the team.</p>`
}`;
  return ctx.render({ title: 'Team', active: 'team', body }, status);
}

export const teamPages: PageModule = (pages) => {
  pages.get('/team', (ctx) => teamPage(ctx));

  pages.post(
    '/team/invite',
    async (ctx) => {
      const invite = { email: ctx.form.email, role: ctx.form.role };
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
        const inviteLink = html`<p class="flash ok" role="status">Send this link to ${v.email} as ${v.role} (it works once, until ${expiresAt.toISOString().slice(0, 10)}):<br><span class="mono" id="invite-link">${url}</span> <button type="button" class="copy" data-copy="${url}" hidden>Copy</button></p>`;
        return teamPage(ctx, { inviteLink });
      } catch (err) {
        return teamPage(ctx, { invite, inviteErrors: formErrors(err) }, 400);
      }
    },
    { ownerOnly: true },
  );

  pages.post(
    '/team/:userId/role',
    async (ctx) => {
      const userId = userIdOf(ctx);
      const role = ctx.form.role ?? '';
      try {
        if (!isRole(role)) {
          throw new MalipoError('VALIDATION_ERROR', 'Choose owner, developer or viewer', {
            details: [{ path: 'role', message: 'Choose owner, developer or viewer', code: 'custom' }],
          });
        }
        const r = await setMemberRole(ctx.deps.db, ctx.session.merchantId, userId, role, {
          actor: ctx.session.userId,
          requestId: ctx.requestId,
        });
        ctx.flash('ok', r.was === role ? `${r.email} is already ${role}.` : `${r.email} is now ${role}.`);
        return ctx.redirect('/dashboard/team');
      } catch (err) {
        if (err instanceof MalipoError && err.status === 404) throw err;
        const e = formErrors(err);
        return teamPage(ctx, { errors: e }, err instanceof MalipoError ? err.status : 400);
      }
    },
    { ownerOnly: true },
  );

  pages.get(
    '/team/:userId/remove',
    async (ctx) => {
      const userId = userIdOf(ctx);
      const m = (await membersOf(ctx.deps.db, ctx.session.merchantId)).find((x) => x.id === userId);
      if (!m) throw notFound('Team member');
      return ctx.render({
        title: `Remove ${m.email}?`,
        active: 'team',
        body: html`<div class="card" id="remove-confirm"><p>${m.email} (${m.role}) will no longer be able to sign in to ${ctx.session.merchantName}. Their open sessions end at once. You can invite them again later.</p>
<form method="post" action="/dashboard/team/${m.id}/remove" class="actions">${ctx.csrf}<button type="submit" class="danger">Remove from the team</button> <a class="button secondary" href="/dashboard/team">Keep</a></form></div>`,
      });
    },
    { ownerOnly: true },
  );

  pages.post(
    '/team/:userId/remove',
    async (ctx) => {
      const userId = userIdOf(ctx);
      try {
        const r = await removeMember(ctx.deps.db, ctx.session.merchantId, userId, {
          actor: ctx.session.userId,
          requestId: ctx.requestId,
        });
        ctx.flash('ok', `${r.email} was removed from the team.`);
        // removing yourself ends this session too
        return ctx.redirect(userId === ctx.session.userId ? '/dashboard/login' : '/dashboard/team');
      } catch (err) {
        if (err instanceof MalipoError && err.status === 404) throw err;
        return teamPage(ctx, { errors: formErrors(err) }, err instanceof MalipoError ? err.status : 400);
      }
    },
    { ownerOnly: true },
  );
};
