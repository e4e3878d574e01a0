/** /v1/keys: create (shown once), list, get, revoke (immediate), rotate (overlap), expiry, last-used, tenancy. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { MalipoError } from '../../src/domain/errors';
import {
  keyManagerOf,
  LastUsedTracker,
  OPERATOR,
  revokeApiKey,
  rotateApiKey,
  webhookSecretOf,
} from '../../src/platform/keys';
import {
  expectEnvelope,
  expectSecured,
  startTestApp,
  type TestApp,
  type TestMerchant,
} from '../helpers/http';

describe('/v1/keys', () => {
  let t: TestApp;
  let m: TestMerchant;
  let other: TestMerchant;

  before(async () => {
    t = await startTestApp();
    m = await t.merchant('Shop');
    other = await t.merchant('Other');
  });
  after(() => t.close());

  describe('POST /v1/keys', () => {
    it('creates a key shown once, with a webhook secret stored encrypted', async () => {
      const r = await t.request('POST', '/v1/keys', {
        key: m.key,
        body: { label: 'checkout', scopes: ['payments:create', 'payments:read'] },
      });
      assert.equal(r.status, 201, r.text);
      assert.match(r.body.key, /^mlp_test_[0-9A-Za-z]{43}$/);
      assert.match(r.body.webhookSecret, /^whsec_[A-Za-z0-9+/]{43}=$/);
      assert.equal(Buffer.from(r.body.webhookSecret.slice(6), 'base64').length, 32);
      assert.equal(r.body.prefix, r.body.key.slice(0, 13));
      assert.equal(r.body.last4, r.body.key.slice(-4));
      assert.deepEqual(r.body.scopes, ['payments:create', 'payments:read']);
      assert.equal(r.body.environment, 'test');
      assert.equal(r.body.state, 'active');

      const raw = JSON.stringify(
        (await sql`select * from api_keys where id = ${r.body.id}`.execute(t.db)).rows,
      );
      assert.ok(!raw.includes(r.body.key), 'the key is not stored');
      assert.ok(!raw.includes(r.body.webhookSecret.slice(6)), 'the webhook secret is not stored in clear');
      assert.equal(await webhookSecretOf(t.db, t.secretBox, r.body.id), r.body.webhookSecret);

      const again = await t.request('GET', `/v1/keys/${r.body.id}`, { key: m.key });
      assert.equal(again.body.key, undefined, 'never shown again');
      assert.equal(again.body.webhookSecret, undefined);

      const works = await t.request('GET', '/v1/channels', { key: r.body.key });
      expectEnvelope(works, 403, 'MISSING_SCOPE');
      const audit = await t.db
        .selectFrom('audit_log')
        .selectAll()
        .where('target_id', '=', r.body.id)
        .execute();
      assert.equal(audit[0]?.action, 'key.create');
      assert.equal(audit[0]?.actor, m.keyId);
    });

    it('answers VALIDATION_ERROR for unknown scopes, no scopes, a past expiry', async () => {
      const a = await t.request('POST', '/v1/keys', {
        key: m.key,
        body: { scopes: ['payments:everything'] },
      });
      assert.equal(expectEnvelope(a, 400, 'VALIDATION_ERROR').error.details?.length, 1);
      expectEnvelope(
        await t.request('POST', '/v1/keys', { key: m.key, body: { scopes: [] } }),
        400,
        'VALIDATION_ERROR',
      );
      const past = await t.request('POST', '/v1/keys', {
        key: m.key,
        body: { scopes: ['payments:read'], expiresAt: '2001-01-01T00:00:00Z' },
      });
      expectEnvelope(past, 400, 'VALIDATION_ERROR');
    });

    it('a key grants only scopes it holds, and only in its own environment', async () => {
      const manager = await t.key(m.id, ['keys:manage', 'payments:read']);
      const up = await t.request('POST', '/v1/keys', {
        key: manager.key,
        body: { scopes: ['payments:create'] },
      });
      expectEnvelope(up, 403, 'FORBIDDEN');
      const star = await t.request('POST', '/v1/keys', { key: manager.key, body: { scopes: ['*'] } });
      expectEnvelope(star, 403, 'FORBIDDEN');
      const ok = await t.request('POST', '/v1/keys', {
        key: manager.key,
        body: { scopes: ['payments:read'] },
      });
      assert.equal(ok.status, 201);
      const live = await t.request('POST', '/v1/keys', {
        key: m.key,
        body: { scopes: ['payments:read'], environment: 'live' },
      });
      expectEnvelope(live, 403, 'FORBIDDEN');
    });

    it('is secured', () =>
      expectSecured(t, m.id, {
        method: 'POST',
        path: '/v1/keys',
        body: { scopes: ['payments:read'] },
        scope: 'keys:manage',
      }));
  });

  describe('GET /v1/keys', () => {
    it('lists this merchant’s keys of the same environment, without secrets', async () => {
      await t.key(m.id, ['payments:read'], { env: 'live' });
      const r = await t.request('GET', '/v1/keys', { key: m.key });
      assert.equal(r.status, 200);
      assert.ok(r.body.data.length >= 2);
      assert.ok(r.body.data.every((k: { environment: string }) => k.environment === 'test'));
      assert.ok(!r.body.data.some((k: { id: string }) => k.id === other.keyId));
      assert.ok(r.body.data.every((k: Record<string, unknown>) => !('key' in k) && !('key_hash' in k)));
      assert.ok(!r.text.includes(m.key));
    });

    it('answers the envelope for a malformed authorization header', async () => {
      const r = await t.request('GET', '/v1/keys', { headers: { authorization: 'Basic abc' } });
      expectEnvelope(r, 401, 'INVALID_API_KEY');
    });

    it('is secured', () => expectSecured(t, m.id, { method: 'GET', path: '/v1/keys', scope: 'keys:manage' }));
  });

  describe('GET /v1/keys/:id', () => {
    it('returns the key record', async () => {
      const r = await t.request('GET', `/v1/keys/${m.keyId}`, { key: m.key });
      assert.equal(r.status, 200);
      assert.equal(r.body.id, m.keyId);
      assert.deepEqual(r.body.scopes, ['*']);
    });

    it('another merchant’s key, a malformed id and a key of the other environment are not found', async () => {
      expectEnvelope(
        await t.request('GET', `/v1/keys/${other.keyId}`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expectEnvelope(await t.request('GET', '/v1/keys/abc', { key: m.key }), 400, 'VALIDATION_ERROR');
      const live = await t.key(m.id, ['payments:read'], { env: 'live' });
      expectEnvelope(
        await t.request('GET', `/v1/keys/${live.id}`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
    });

    it('is secured', () =>
      expectSecured(t, m.id, { method: 'GET', path: `/v1/keys/${m.keyId}`, scope: 'keys:manage' }));
  });

  describe('POST /v1/keys/:id/revoke', () => {
    it('revokes at once', async () => {
      const k = await t.key(m.id, ['channels:read']);
      assert.equal((await t.request('GET', '/v1/channels', { key: k.key })).status, 200);
      const r = await t.request('POST', `/v1/keys/${k.id}/revoke`, { key: m.key });
      assert.equal(r.status, 200);
      assert.equal(r.body.state, 'revoked');
      assert.ok(r.body.revokedAt);
      expectEnvelope(await t.request('GET', '/v1/channels', { key: k.key }), 401, 'INVALID_API_KEY');
      const audit = await t.db.selectFrom('audit_log').selectAll().where('target_id', '=', k.id).execute();
      assert.ok(audit.some((a) => a.action === 'key.revoke' && a.actor === m.keyId));
    });

    it('another merchant’s key is 404 and keeps working', async () => {
      expectEnvelope(
        await t.request('POST', `/v1/keys/${other.keyId}/revoke`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      assert.equal((await t.request('GET', '/v1/channels', { key: other.key })).status, 200);
    });

    it('is secured', async () => {
      const k = await t.key(m.id, ['payments:read']);
      await expectSecured(t, m.id, { method: 'POST', path: `/v1/keys/${k.id}/revoke`, scope: 'keys:manage' });
    });
  });

  describe('POST /v1/keys/:id/rotate', () => {
    it('without overlap: a new key, the old one stops at once', async () => {
      const k = await t.key(m.id, ['channels:read'], {});
      const r = await t.request('POST', `/v1/keys/${k.id}/rotate`, { key: m.key, body: {} });
      assert.equal(r.status, 201, r.text);
      assert.notEqual(r.body.key.key, k.key);
      assert.notEqual(r.body.key.webhookSecret, k.webhookSecret);
      assert.deepEqual(r.body.key.scopes, ['channels:read']);
      assert.equal(r.body.previous.replacedBy, r.body.key.id);
      assert.equal(r.body.previous.state, 'revoked');
      expectEnvelope(await t.request('GET', '/v1/channels', { key: k.key }), 401, 'INVALID_API_KEY');
      assert.equal((await t.request('GET', '/v1/channels', { key: r.body.key.key })).status, 200);
    });

    it('with overlap: both work until the overlap ends, then only the new one', async () => {
      const k = await t.key(m.id, ['channels:read']);
      const r = await t.request('POST', `/v1/keys/${k.id}/rotate`, {
        key: m.key,
        body: { overlapSeconds: 3600 },
      });
      assert.equal(r.status, 201);
      assert.equal(r.body.previous.state, 'active');
      const until = Date.parse(r.body.previous.expiresAt);
      assert.ok(Math.abs(until - (Date.now() + 3600_000)) < 60_000);
      assert.equal((await t.request('GET', '/v1/channels', { key: k.key })).status, 200);
      assert.equal((await t.request('GET', '/v1/channels', { key: r.body.key.key })).status, 200);
      // the overlap passes
      await t.db
        .updateTable('api_keys')
        .set({ expires_at: new Date(Date.now() - 1000) })
        .where('id', '=', k.id)
        .execute();
      expectEnvelope(await t.request('GET', '/v1/channels', { key: k.key }), 401, 'INVALID_API_KEY');
      assert.equal((await t.request('GET', '/v1/channels', { key: r.body.key.key })).status, 200);
      // a rotated-away key cannot be rotated again
      const again = await t.request('POST', `/v1/keys/${k.id}/rotate`, { key: m.key, body: {} });
      expectEnvelope(again, 409, 'CONFLICT');
    });

    it('answers VALIDATION_ERROR for a bad overlap; another merchant’s key is 404', async () => {
      const k = await t.key(m.id, ['channels:read']);
      const bad = await t.request('POST', `/v1/keys/${k.id}/rotate`, {
        key: m.key,
        body: { overlapSeconds: -5 },
      });
      expectEnvelope(bad, 400, 'VALIDATION_ERROR');
      const theirs = await t.request('POST', `/v1/keys/${other.keyId}/rotate`, { key: m.key, body: {} });
      expectEnvelope(theirs, 404, 'RESOURCE_NOT_FOUND');
    });

    it('is secured', async () => {
      const k = await t.key(m.id, ['payments:read']);
      await expectSecured(t, m.id, {
        method: 'POST',
        path: `/v1/keys/${k.id}/rotate`,
        body: {},
        scope: 'keys:manage',
      });
    });
  });

  describe('the grant rule for rotate and revoke', () => {
    it('a keys:manage key cannot rotate a * key into a key for itself, nor revoke it', async () => {
      const manager = await t.key(m.id, ['keys:manage']);
      const star = await t.key(m.id, ['*']);
      const rot = await t.request('POST', `/v1/keys/${star.id}/rotate`, { key: manager.key, body: {} });
      const b = expectEnvelope(rot, 403, 'FORBIDDEN');
      assert.match(b.error.message, /only keys whose scopes it holds itself/);
      assert.match(b.error.message, /\*/);
      assert.equal(rot.body.key, undefined, 'no new key is issued');
      const rev = await t.request('POST', `/v1/keys/${star.id}/revoke`, { key: manager.key });
      expectEnvelope(rev, 403, 'FORBIDDEN');
      // the * key is untouched and still works; no replacement was written
      assert.equal((await t.request('GET', '/v1/channels', { key: star.key })).status, 200);
      const row = await t.db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', star.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.revoked_at, null);
      assert.equal(row.replaced_by, null);
      const audit = await t.db.selectFrom('audit_log').selectAll().where('target_id', '=', star.id).execute();
      assert.ok(!audit.some((a) => a.action !== 'key.create'));
    });

    it('nor a key holding a scope it lacks; keys within its scopes (and itself) it may', async () => {
      const manager = await t.key(m.id, ['keys:manage', 'payments:read']);
      const payer = await t.key(m.id, ['payments:create', 'payments:read']);
      expectEnvelope(
        await t.request('POST', `/v1/keys/${payer.id}/rotate`, { key: manager.key, body: {} }),
        403,
        'FORBIDDEN',
      );
      expectEnvelope(
        await t.request('POST', `/v1/keys/${payer.id}/revoke`, { key: manager.key }),
        403,
        'FORBIDDEN',
      );
      const reader = await t.key(m.id, ['payments:read']);
      const ok = await t.request('POST', `/v1/keys/${reader.id}/rotate`, { key: manager.key, body: {} });
      assert.equal(ok.status, 201, ok.text);
      assert.deepEqual(ok.body.key.scopes, ['payments:read']);
      const gone = await t.request('POST', `/v1/keys/${ok.body.key.id}/revoke`, { key: manager.key });
      assert.equal(gone.status, 200, gone.text);
      const self = await t.request('POST', `/v1/keys/${manager.id}/rotate`, { key: manager.key, body: {} });
      assert.equal(self.status, 201, self.text);
      // a * key manages any key of its environment
      const star = await t.request('POST', `/v1/keys/${payer.id}/rotate`, { key: m.key, body: {} });
      assert.equal(star.status, 201, star.text);
    });

    it('is the service’s rule, with the same error for every caller; the operator is not limited', async () => {
      const star = await t.key(m.id, ['*']);
      const manager = await t.key(m.id, ['keys:manage']);
      const as = keyManagerOf({
        merchantId: m.id,
        keyId: manager.id,
        environment: 'test',
        scopes: ['keys:manage'],
      });
      const by = { actor: manager.id };
      const forbidden = (e: unknown) => e instanceof MalipoError && e.code === 'FORBIDDEN';
      await assert.rejects(rotateApiKey(t.db, t.secretBox, m.id, star.id, {}, by, as), forbidden);
      await assert.rejects(revokeApiKey(t.db, m.id, star.id, by, as), forbidden);
      const live = await t.key(m.id, ['payments:read'], { env: 'live' });
      const liveManager = keyManagerOf({ merchantId: m.id, keyId: 'x', environment: 'test', scopes: ['*'] });
      await assert.rejects(
        revokeApiKey(t.db, m.id, live.id, by, liveManager),
        (e: unknown) => e instanceof MalipoError && e.code === 'RESOURCE_NOT_FOUND',
      );
      const r = await rotateApiKey(t.db, t.secretBox, m.id, star.id, {}, { actor: 'cli' }, OPERATOR);
      assert.deepEqual(r.key.scopes, ['*']);
    });
  });

  describe('expiry and last use', () => {
    it('an expired key is refused', async () => {
      const k = await t.key(m.id, ['channels:read'], { expiresAt: new Date(Date.now() - 1) });
      expectEnvelope(await t.request('GET', '/v1/channels', { key: k.key }), 401, 'INVALID_API_KEY');
      const soon = await t.key(m.id, ['channels:read'], { expiresAt: new Date(Date.now() + 60_000) });
      assert.equal((await t.request('GET', '/v1/channels', { key: soon.key })).status, 200);
    });

    it('records last use without a write per request', async () => {
      const k = await t.key(m.id, ['channels:read']);
      assert.equal((await t.request('GET', '/v1/channels', { key: k.key })).status, 200);
      let row: { last_used_at: Date | null } | undefined;
      for (let i = 0; i < 50; i++) {
        row = await t.db
          .selectFrom('api_keys')
          .select('last_used_at')
          .where('id', '=', k.id)
          .executeTakeFirst();
        if (row?.last_used_at) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(row?.last_used_at, 'last_used_at is set after a request');

      // the tracker writes at most once per key per interval: a marked old value survives a second touch
      let now = 1_000_000;
      const tracker = new LastUsedTracker(t.db, 60_000, () => now);
      const marker = new Date('2020-01-01T00:00:00Z');
      const lastUsed = async () =>
        (
          await t.db
            .selectFrom('api_keys')
            .select('last_used_at')
            .where('id', '=', k.id)
            .executeTakeFirstOrThrow()
        ).last_used_at;
      await tracker.touch(k.id);
      await t.db.updateTable('api_keys').set({ last_used_at: marker }).where('id', '=', k.id).execute();
      await tracker.touch(k.id);
      await tracker.touch(k.id);
      assert.deepEqual(await lastUsed(), marker, 'no second write within the interval');
      now += 61_000;
      await tracker.touch(k.id);
      assert.ok((await lastUsed())!.getTime() > marker.getTime(), 'written again after the interval');
    });
  });
});
