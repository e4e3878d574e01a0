/**
 * The account tables on PGlite and PostgreSQL: case-insensitive unique emails, password hashes that
 * name their parameters (and still verify after the parameters change), sign-in failure counts that
 * stay exact under concurrent failures from separate connections, and one-time tokens used once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashPassword, verifyPassword } from '../../src/accounts/passwords';
import { createSession, findSession, SESSION_IDLE_MS, SESSION_MAX_AGE_MS } from '../../src/accounts/sessions';
import {
  FREE_FAILURES,
  LOCK_MS,
  loginBuckets,
  recordFailure,
  throttleWait,
} from '../../src/accounts/throttle';
import { consumeToken, createInvite } from '../../src/accounts/tokens';
import { addMembership, insertUser } from '../../src/accounts/users';
import { type DatabaseHandle, openDatabase } from '../../src/db';
import { createMerchant } from '../../src/platform/merchants';
import { testDatabases } from '../helpers/db';

describe('password hashes', () => {
  it('record their scrypt parameters, verify, and ask for a rehash when weaker than today', async () => {
    const h = await hashPassword('a long enough password');
    assert.match(h, /^scrypt\$15\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(await verifyPassword('a long enough password', h), { ok: true, needsRehash: false });
    assert.equal((await verifyPassword('a long enough passwore', h)).ok, false);
    const weak = await hashPassword('a long enough password', { log2N: 12, r: 8, p: 1 });
    assert.deepEqual(await verifyPassword('a long enough password', weak), { ok: true, needsRehash: true });
    assert.equal((await verifyPassword('x', 'not a hash')).ok, false);
    // an absurd cost in a stored hash is refused, not computed
    assert.equal((await verifyPassword('x', `scrypt$40$8$1$${'A'.repeat(22)}$${'A'.repeat(43)}`)).ok, false);
  });
});

for (const database of testDatabases()) {
  describe(`account tables on ${database.name}`, () => {
    let handle: DatabaseHandle;
    before(async () => {
      handle = await database.open();
    });
    after(() => handle.close());

    it('keeps emails unique ignoring case', async () => {
      await insertUser(handle.db, 'Case@Example.co.ke', null);
      await assert.rejects(insertUser(handle.db, 'case@example.CO.KE', null), /already exists/);
    });

    it('counts every concurrent failure, across connections, and locks at the 10th', async (t) => {
      // on PostgreSQL a second pool is a second API process; PGlite has one connection
      const url = (handle as { url?: string }).url;
      const second = url ? await openDatabase({ url, migrate: false }) : undefined;
      t.after(() => second?.close());
      const dbs = [handle.db, second?.db ?? handle.db];
      const now = new Date('2026-06-01T10:00:00Z');
      const buckets = loginBuckets('Target@Example.co.ke', '198.51.100.7');
      await Promise.all(Array.from({ length: 10 }, (_, i) => recordFailure(dbs[i % 2]!, buckets, now)));
      const rows = await handle.db
        .selectFrom('login_failures')
        .selectAll()
        .where('bucket', 'in', buckets)
        .execute();
      assert.deepEqual(
        rows.map((r) => r.failures),
        [10, 10],
      );
      assert.deepEqual(rows.map((r) => r.bucket).sort(), ['email:target@example.co.ke', 'ip:198.51.100.7']);
      assert.equal(await throttleWait(handle.db, buckets, now), LOCK_MS);
      assert.equal(await throttleWait(handle.db, buckets, new Date(now.getTime() + LOCK_MS)), 0);
      // a fresh bucket: free until the 5th failure
      const fresh = loginBuckets('other@example.co.ke', '198.51.100.8');
      for (let i = 0; i < FREE_FAILURES - 1; i++) await recordFailure(handle.db, fresh, now);
      assert.equal(await throttleWait(handle.db, fresh, now), 0);
      await recordFailure(handle.db, fresh, now);
      assert.equal(await throttleWait(handle.db, fresh, now), 1000);
    });

    it('ends sessions at the idle gap and the absolute expiry', async () => {
      const m = await createMerchant(handle.db, { name: 'Sessions' }, { actor: 'test' });
      const u = await insertUser(handle.db, 'sessions@example.co.ke', null);
      await addMembership(handle.db, { userId: u.id, merchantId: m.id, role: 'viewer' }, 'test');
      const t0 = new Date('2026-06-01T10:00:00Z');
      const s = await createSession(handle.db, { userId: u.id, merchantId: m.id }, t0);
      assert.equal((await findSession(handle.db, s.token, t0))?.role, 'viewer');
      assert.equal(
        await findSession(handle.db, s.token, new Date(t0.getTime() + SESSION_IDLE_MS)),
        undefined,
      );
      // kept alive by use, it still ends at the absolute expiry
      let at = t0.getTime();
      while (at + SESSION_IDLE_MS / 2 < t0.getTime() + SESSION_MAX_AGE_MS) {
        at += SESSION_IDLE_MS / 2;
        assert.ok(await findSession(handle.db, s.token, new Date(at)));
      }
      assert.equal(
        await findSession(handle.db, s.token, new Date(t0.getTime() + SESSION_MAX_AGE_MS)),
        undefined,
      );
      // removing the membership ends it at once
      const s2 = await createSession(handle.db, { userId: u.id, merchantId: m.id }, t0);
      await handle.db.deleteFrom('memberships').where('user_id', '=', u.id).execute();
      assert.equal(await findSession(handle.db, s2.token, t0), undefined);
    });

    it('uses a token once, even when two requests race for it', async () => {
      const m = await createMerchant(handle.db, { name: 'Tokens' }, { actor: 'test' });
      const now = new Date();
      const { token } = await createInvite(
        handle.db,
        { merchantId: m.id, email: 'race@example.co.ke', role: 'viewer' },
        'test',
        now,
      );
      const results = await Promise.all([1, 2, 3].map(() => consumeToken(handle.db, token, 'invite', now)));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal(await consumeToken(handle.db, token, 'sign_in', now), undefined);
    });
  });
}
