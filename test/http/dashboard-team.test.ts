/**
 * The dashboard's team page over HTTP (PGlite and PostgreSQL): owners invite with a role, change roles
 * and remove members (after a confirmation page); the last owner stays; non-owners are refused; another
 * merchant's members are out of reach; every POST needs the CSRF token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashPassword } from '../../src/accounts/passwords';
import type { Role } from '../../src/accounts/roles';
import { addMembership, insertUser } from '../../src/accounts/users';
import type { DatabaseHandle } from '../../src/db';
import { DashboardClient } from '../helpers/dashboard';
import { testDatabases } from '../helpers/db';
import { startTestApp, type TestApp } from '../helpers/http';

const PASSWORD = 'correct horse battery';
let seq = 0;
const email = (name: string) => `${name}.${++seq}.${Date.now()}@example.co.ke`;

for (const database of testDatabases()) {
  describe(`dashboard team on ${database.name}`, () => {
    let handle: DatabaseHandle;
    let t: TestApp;

    before(async () => {
      handle = await database.open();
      t = await startTestApp({ db: handle });
    });
    after(async () => {
      await t.close();
      await handle.close();
    });

    async function shop(name: string) {
      const owner = new DashboardClient(t.url);
      const mail = email('owner');
      assert.equal((await owner.signUp(mail, PASSWORD, name)).status, 303);
      const row = await t.db
        .selectFrom('merchants')
        .select('id')
        .where('name', '=', name)
        .executeTakeFirstOrThrow();
      const ownerId = (
        await t.db.selectFrom('users').select('id').where('email', '=', mail).executeTakeFirstOrThrow()
      ).id;
      return { id: row.id, owner, ownerId, ownerEmail: mail };
    }

    async function member(merchantId: string, role: Role) {
      const mail = email(role);
      const user = await insertUser(t.db, mail, await hashPassword(PASSWORD));
      await addMembership(t.db, { userId: user.id, merchantId, role }, 'test');
      const c = new DashboardClient(t.url);
      assert.equal((await c.logIn(mail, PASSWORD)).status, 303);
      return { client: c, id: user.id, email: mail };
    }

    const roleOf = async (merchantId: string, userId: string) =>
      (
        await t.db
          .selectFrom('memberships')
          .select('role')
          .where('merchant_id', '=', merchantId)
          .where('user_id', '=', userId)
          .executeTakeFirst()
      )?.role;

    it('an owner invites with a role, changes a role and removes a member after confirming', async () => {
      const s = await shop('Team Shop');
      const dev = await member(s.id, 'developer');
      const page = await s.owner.get('/dashboard/team');
      assert.equal(page.status, 200);
      assert.match(page.text, /<a href="\/dashboard\/team" aria-current="page">Team<\/a>/);
      assert.match(page.text, new RegExp(`data-user-id="${dev.id}"`));
      assert.match(
        page.text,
        new RegExp(
          `<label for="role-${dev.id}" class="sr-only">Role of ${dev.email.replace(/\./g, '\\.')}</label>`,
        ),
      );

      const invited = email('newbie');
      const inv = await s.owner.post('/dashboard/team/invite', { email: invited, role: 'viewer' });
      assert.equal(inv.status, 200, inv.text);
      const link = /id="invite-link">([^<]+)</.exec(inv.text)?.[1];
      assert.ok(link);
      const joiner = new DashboardClient(t.url);
      await joiner.get(new URL(link).pathname);
      assert.equal(
        (await joiner.post(new URL(link).pathname, { password: 'a viewer password' })).status,
        303,
      );
      const joinedId = (
        await t.db.selectFrom('users').select('id').where('email', '=', invited).executeTakeFirstOrThrow()
      ).id;
      assert.equal(await roleOf(s.id, joinedId), 'viewer');
      const badInvite = await s.owner.post('/dashboard/team/invite', {
        email: 'not-an-email',
        role: 'admin',
      });
      assert.equal(badInvite.status, 400);
      assert.match(badInvite.text, /id="email-error"/);
      assert.match(badInvite.text, /id="role-error">Choose owner, developer or viewer/);

      const changed = await s.owner.post(`/dashboard/team/${dev.id}/role`, { role: 'viewer' });
      assert.equal(changed.status, 303);
      assert.equal(await roleOf(s.id, dev.id), 'viewer');
      assert.match((await s.owner.get('/dashboard/team')).text, /is now viewer/);
      // the member's session has the new role at once
      assert.equal((await dev.client.get('/dashboard/links')).status, 403);
      const badRole = await s.owner.post(`/dashboard/team/${dev.id}/role`, { role: 'admin' });
      assert.equal(badRole.status, 400);
      assert.equal(await roleOf(s.id, dev.id), 'viewer');

      const ask = await s.owner.get(`/dashboard/team/${dev.id}/remove`);
      assert.equal(ask.status, 200);
      assert.match(ask.text, /Remove from the team/);
      assert.equal(await roleOf(s.id, dev.id), 'viewer', 'the confirmation page changes nothing');
      const removed = await s.owner.post(`/dashboard/team/${dev.id}/remove`, {});
      assert.equal(removed.status, 303);
      assert.equal(await roleOf(s.id, dev.id), undefined);
      assert.equal((await dev.client.get('/dashboard/overview')).status, 303, 'their session ended');
      const audit = await t.db
        .selectFrom('audit_log')
        .select(['action', 'actor'])
        .where('merchant_id', '=', s.id)
        .where('target_id', '=', dev.id)
        .orderBy('created_at')
        .execute();
      assert.deepEqual(
        audit.map((a) => a.action),
        ['member.role', 'member.remove'],
      );
      assert.ok(audit.every((a) => a.actor === s.ownerId));
    });

    it('never demotes or removes the last owner', async () => {
      const s = await shop('Last Owner Shop');
      await s.owner.get('/dashboard/team');
      const demote = await s.owner.post(`/dashboard/team/${s.ownerId}/role`, { role: 'developer' });
      assert.equal(demote.status, 409);
      assert.match(demote.text, /A business needs at least one owner/);
      const remove = await s.owner.post(`/dashboard/team/${s.ownerId}/remove`, {});
      assert.equal(remove.status, 409);
      assert.equal(await roleOf(s.id, s.ownerId), 'owner');
      // with a second owner, the first may step down
      const second = await member(s.id, 'owner');
      assert.equal(
        (await s.owner.post(`/dashboard/team/${s.ownerId}/role`, { role: 'developer' })).status,
        303,
      );
      assert.equal(await roleOf(s.id, s.ownerId), 'developer');
      await second.client.get('/dashboard/team');
      assert.equal(
        (await second.client.post(`/dashboard/team/${second.id}/role`, { role: 'viewer' })).status,
        409,
      );
    });

    it('non-owners only read the team; another merchant’s members are out of reach; CSRF on every POST', async () => {
      const a = await shop('Team A');
      const b = await shop('Team B');
      const bDev = await member(b.id, 'developer');
      for (const role of ['developer', 'viewer'] as const) {
        const m = await member(a.id, role);
        const page = await m.client.get('/dashboard/team');
        assert.equal(page.status, 200);
        assert.doesNotMatch(page.text, /team-invite-form|\/role"/);
        for (const [path, form] of [
          ['/dashboard/team/invite', { email: email('x'), role: 'owner' }],
          [`/dashboard/team/${a.ownerId}/role`, { role: 'viewer' }],
          [`/dashboard/team/${a.ownerId}/remove`, {}],
        ] as const) {
          const r = await m.client.post(path, form);
          assert.equal(r.status, 403, `${role} ${path}`);
          assert.match(r.text, /data-code="FORBIDDEN"/);
        }
        assert.equal((await m.client.get(`/dashboard/team/${a.ownerId}/remove`)).status, 403);
      }
      assert.equal(await roleOf(a.id, a.ownerId), 'owner');

      const aTeam = await a.owner.get('/dashboard/team');
      assert.doesNotMatch(aTeam.text, new RegExp(bDev.email.replace(/\./g, '\\.')));
      assert.equal((await a.owner.get(`/dashboard/team/${bDev.id}/remove`)).status, 404);
      assert.equal((await a.owner.post(`/dashboard/team/${bDev.id}/role`, { role: 'viewer' })).status, 404);
      assert.equal((await a.owner.post(`/dashboard/team/${bDev.id}/remove`, {})).status, 404);
      assert.equal((await a.owner.post('/dashboard/team/usr_x/remove', {})).status, 404);
      assert.equal(await roleOf(b.id, bDev.id), 'developer');

      const aDev = await member(a.id, 'developer');
      await a.owner.get('/dashboard/team');
      for (const [path, form] of [
        ['/dashboard/team/invite', { email: email('y'), role: 'viewer' }],
        [`/dashboard/team/${aDev.id}/role`, { role: 'viewer' }],
        [`/dashboard/team/${aDev.id}/remove`, {}],
      ] as const) {
        const r = await a.owner.post(path, { ...form, _csrf: null });
        assert.equal(r.status, 403, path);
        assert.match(r.text, /data-code="FORBIDDEN"/);
      }
      assert.equal(await roleOf(a.id, aDev.id), 'developer');
    });
  });
}
