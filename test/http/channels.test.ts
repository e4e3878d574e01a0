/** /v1/channels: CRUD, masking, encryption at rest, environment rules, tenancy, audit. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { CHANNEL_REFERENCING_TABLES, resolveChannel } from '../../src/platform/channels';
import {
  CHANNEL_DEFAULTS,
  expectEnvelope,
  expectSecured,
  startTestApp,
  type TestApp,
  type TestMerchant,
} from '../helpers/http';

const NEW_CHANNEL = {
  name: 'Main paybill',
  type: 'paybill',
  shortcode: '600123',
  environment: 'safaricom-sandbox',
  passkey: 'PASSKEY-very-secret-value-0001',
  consumerKey: 'CONSUMERKEY-very-secret-0002',
  consumerSecret: 'CONSUMERSECRET-very-secret-0003',
  initiatorName: 'apiop',
  initiatorPassword: 'INITIATORPW-very-secret-0004',
};
const SECRETS = [
  NEW_CHANNEL.passkey,
  NEW_CHANNEL.consumerKey,
  NEW_CHANNEL.consumerSecret,
  NEW_CHANNEL.initiatorPassword,
];

describe('/v1/channels', () => {
  let t: TestApp;
  let m: TestMerchant;
  let other: TestMerchant;
  let otherChannelId: string;
  let live: string;

  before(async () => {
    t = await startTestApp();
    m = await t.merchant('Shop');
    other = await t.merchant('Other shop');
    otherChannelId = (await t.channel(other.id)).id;
    live = (await t.key(m.id, ['*'], { env: 'live' })).key;
  });
  after(() => t.close());

  describe('POST /v1/channels', () => {
    it('creates a channel, returns secrets masked, stores them encrypted', async () => {
      const r = await t.request('POST', '/v1/channels', { key: m.key, body: NEW_CHANNEL });
      assert.equal(r.status, 201, r.text);
      assert.match(r.body.id, /^ch_[0-9A-Za-z]{22}$/);
      assert.equal(r.body.object, 'channel');
      assert.equal(r.body.baseUrl, 'https://sandbox.safaricom.co.ke');
      assert.equal(r.body.isDefault, true, 'the first channel of an environment is the default');
      assert.equal(r.body.credentials.passkey, '••••0001');
      assert.equal(r.body.credentials.initiatorPassword, '••••0004');
      assert.equal(r.body.merchantId, undefined);
      for (const s of SECRETS) assert.ok(!r.text.includes(s), 'no secret in the response');

      const raw = await sql`select * from channels where id = ${r.body.id}`.execute(t.db);
      const dump = JSON.stringify(raw.rows);
      for (const s of SECRETS) assert.ok(!dump.includes(s), `a raw read shows no secret in clear: ${s}`);
      assert.match(String((raw.rows[0] as { passkey_enc: string }).passkey_enc), /^v1\.[0-9a-f]{8}\./);

      const audit = await t.db
        .selectFrom('audit_log')
        .selectAll()
        .where('target_id', '=', r.body.id)
        .execute();
      assert.equal(audit.length, 1);
      assert.equal(audit[0]!.action, 'channel.create');
      assert.equal(audit[0]!.actor, m.keyId);
      assert.ok(!JSON.stringify(audit).includes(NEW_CHANNEL.passkey));
    });

    it('creates a till with its till number, and needs it', async () => {
      const r = await t.request('POST', '/v1/channels', {
        key: m.key,
        body: { ...NEW_CHANNEL, type: 'till', shortcode: '7000001', tillNumber: '5000001', isDefault: false },
      });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.body.tillNumber, '5000001');
      assert.equal(r.body.isDefault, false);
      const bad = await t.request('POST', '/v1/channels', {
        key: m.key,
        body: { ...NEW_CHANNEL, type: 'till' },
      });
      const b = expectEnvelope(bad, 400, 'VALIDATION_ERROR');
      assert.equal((b.error.details as Array<{ path: string }>)[0]!.path, 'tillNumber');
    });

    it('answers VALIDATION_ERROR listing each field', async () => {
      const r = await t.request('POST', '/v1/channels', {
        key: m.key,
        body: { type: 'bank', shortcode: '12', environment: 'mars', extra: 1 },
      });
      const b = expectEnvelope(r, 400, 'VALIDATION_ERROR');
      const paths = (b.error.details as Array<{ path: string }>).map((d) => d.path);
      for (const p of ['type', 'shortcode', 'environment', 'passkey', 'consumerKey', 'consumerSecret']) {
        assert.ok(paths.includes(p), `${p} in ${paths}`);
      }
    });

    it('a simulator channel needs its base URL', async () => {
      const r = await t.request('POST', '/v1/channels', {
        key: m.key,
        body: { ...NEW_CHANNEL, environment: 'simulator' },
      });
      assert.equal(expectEnvelope(r, 400, 'VALIDATION_ERROR').error.details?.length, 1);
    });

    it('a test key cannot create a production channel, a live key only production ones', async () => {
      const r = await t.request('POST', '/v1/channels', {
        key: m.key,
        body: { ...NEW_CHANNEL, environment: 'production' },
      });
      assert.match(expectEnvelope(r, 403, 'FORBIDDEN').error.message, /test key/);
      const l = await t.request('POST', '/v1/channels', { key: live, body: NEW_CHANNEL });
      expectEnvelope(l, 403, 'FORBIDDEN');
      const ok = await t.request('POST', '/v1/channels', {
        key: live,
        body: { ...NEW_CHANNEL, environment: 'production' },
      });
      assert.equal(ok.status, 201);
      assert.equal(ok.body.baseUrl, 'https://api.safaricom.co.ke');
    });

    it('is secured', () =>
      expectSecured(t, m.id, {
        method: 'POST',
        path: '/v1/channels',
        body: NEW_CHANNEL,
        scope: 'channels:write',
      }));
  });

  describe('GET /v1/channels', () => {
    it('lists only this merchant’s channels of the key’s environment', async () => {
      const r = await t.request('GET', '/v1/channels', { key: m.key });
      assert.equal(r.status, 200);
      assert.equal(r.body.object, 'list');
      assert.ok(r.body.data.length >= 2);
      for (const c of r.body.data) assert.notEqual(c.environment, 'production');
      assert.ok(!r.body.data.some((c: { id: string }) => c.id === otherChannelId));
      const l = await t.request('GET', '/v1/channels', { key: live });
      assert.ok(l.body.data.every((c: { environment: string }) => c.environment === 'production'));
    });

    it('answers the envelope for a bad query of the key', async () => {
      expectEnvelope(await t.request('GET', '/v1/channels', { key: `${m.key}x` }), 401, 'INVALID_API_KEY');
    });

    it('is secured', () =>
      expectSecured(t, m.id, { method: 'GET', path: '/v1/channels', scope: 'channels:read' }));
  });

  describe('GET /v1/channels/:id', () => {
    let id: string;
    before(async () => {
      id = (await t.channel(m.id, { name: 'to read', isDefault: false })).id;
    });

    it('returns the channel, masked', async () => {
      const r = await t.request('GET', `/v1/channels/${id}`, { key: m.key });
      assert.equal(r.status, 200);
      assert.equal(r.body.id, id);
      assert.equal(r.body.name, 'to read');
      assert.ok(!r.text.includes(CHANNEL_DEFAULTS.passkey));
    });

    it('answers 400 for a malformed id and 404 for an unknown one', async () => {
      expectEnvelope(await t.request('GET', '/v1/channels/nope', { key: m.key }), 400, 'VALIDATION_ERROR');
      expectEnvelope(
        await t.request('GET', '/v1/channels/ch_000000000000000000000', { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
    });

    it('another merchant’s channel is 404; a live key asking for a sandbox channel is 403', async () => {
      expectEnvelope(
        await t.request('GET', `/v1/channels/${otherChannelId}`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expectEnvelope(await t.request('GET', `/v1/channels/${id}`, { key: live }), 403, 'FORBIDDEN');
    });

    it('is secured', () =>
      expectSecured(t, m.id, { method: 'GET', path: `/v1/channels/${id}`, scope: 'channels:read' }));
  });

  describe('PATCH /v1/channels/:id', () => {
    let id: string;
    before(async () => {
      id = (await t.channel(m.id, { name: 'to patch', isDefault: false })).id;
    });

    it('updates fields and secrets, and can make it the default', async () => {
      const r = await t.request('PATCH', `/v1/channels/${id}`, {
        key: m.key,
        body: { name: 'patched', passkey: 'NEWPASSKEY-secret-9999', isDefault: true },
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.name, 'patched');
      assert.equal(r.body.credentials.passkey, '••••9999');
      assert.equal(r.body.isDefault, true);
      const defaults = await t.db
        .selectFrom('channels')
        .select('id')
        .where('merchant_id', '=', m.id)
        .where('mode', '=', 'test')
        .where('is_default', '=', true)
        .execute();
      assert.deepEqual(
        defaults.map((d) => d.id),
        [id],
      );
      const resolved = await resolveChannel(t.db, t.secretBox, { merchantId: m.id, environment: 'test' });
      assert.equal(resolved.credentials.passkey, 'NEWPASSKEY-secret-9999');
      const audit = await t.db.selectFrom('audit_log').selectAll().where('target_id', '=', id).execute();
      assert.ok(audit.some((a) => a.action === 'channel.update' && a.actor === m.keyId));
    });

    it('rejects unknown fields and an environment change', async () => {
      const r = await t.request('PATCH', `/v1/channels/${id}`, {
        key: m.key,
        body: { environment: 'production' },
      });
      expectEnvelope(r, 400, 'VALIDATION_ERROR');
    });

    it('another merchant’s channel is 404', async () => {
      const r = await t.request('PATCH', `/v1/channels/${otherChannelId}`, {
        key: m.key,
        body: { name: 'mine' },
      });
      expectEnvelope(r, 404, 'RESOURCE_NOT_FOUND');
    });

    it('is secured', () =>
      expectSecured(t, m.id, {
        method: 'PATCH',
        path: `/v1/channels/${id}`,
        body: { name: 'x' },
        scope: 'channels:write',
      }));
  });

  describe('DELETE /v1/channels/:id', () => {
    it('deletes an unreferenced channel', async () => {
      const id = (await t.channel(m.id, { isDefault: false })).id;
      const r = await t.request('DELETE', `/v1/channels/${id}`, { key: m.key });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { id, deleted: true, status: 'deleted' });
      expectEnvelope(await t.request('GET', `/v1/channels/${id}`, { key: m.key }), 404, 'RESOURCE_NOT_FOUND');
    });

    it('disables a channel that payments reference', async () => {
      const id = (await t.channel(m.id, { isDefault: false })).id;
      // a stand-in for payments: any listed table with a channel_id column counts as a reference
      CHANNEL_REFERENCING_TABLES.push('test_channel_refs');
      await sql`create table test_channel_refs (id text primary key, channel_id text not null)`.execute(t.db);
      await sql`insert into test_channel_refs (id, channel_id) values ('pay_x', ${id})`.execute(t.db);
      const r = await t.request('DELETE', `/v1/channels/${id}`, { key: m.key });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { id, deleted: false, status: 'disabled' });
      const g = await t.request('GET', `/v1/channels/${id}`, { key: m.key });
      assert.equal(g.body.status, 'disabled');
      await assert.rejects(
        resolveChannel(t.db, t.secretBox, { merchantId: m.id, environment: 'test' }, id),
        (e: Error & { code?: string }) => e.code === 'CONFLICT',
      );
    });

    it('another merchant’s channel is 404 and stays', async () => {
      expectEnvelope(
        await t.request('DELETE', `/v1/channels/${otherChannelId}`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      const still = await t.db
        .selectFrom('channels')
        .select('id')
        .where('id', '=', otherChannelId)
        .executeTakeFirst();
      assert.ok(still);
    });

    it('is secured', async () => {
      const id = (await t.channel(m.id, { isDefault: false })).id;
      await expectSecured(t, m.id, { method: 'DELETE', path: `/v1/channels/${id}`, scope: 'channels:write' });
    });
  });

  describe('resolveChannel (for payment routes)', () => {
    it('returns the default channel with clear credentials and a masked public view', async () => {
      const r = await resolveChannel(t.db, t.secretBox, { merchantId: other.id, environment: 'test' });
      assert.equal(r.channel.id, otherChannelId);
      assert.equal(r.credentials.passkey, CHANNEL_DEFAULTS.passkey);
      assert.equal(r.credentials.baseUrl, CHANNEL_DEFAULTS.baseUrl);
      assert.ok(!JSON.stringify(r.channel).includes(CHANNEL_DEFAULTS.passkey));
    });

    it('another merchant’s channel is 404; the wrong environment is 403; no default is 404', async () => {
      await assert.rejects(
        resolveChannel(t.db, t.secretBox, { merchantId: m.id, environment: 'test' }, otherChannelId),
        (e: Error & { code?: string }) => e.code === 'RESOURCE_NOT_FOUND',
      );
      await assert.rejects(
        resolveChannel(t.db, t.secretBox, { merchantId: other.id, environment: 'live' }, otherChannelId),
        (e: Error & { code?: string }) => e.code === 'FORBIDDEN',
      );
      await assert.rejects(
        resolveChannel(t.db, t.secretBox, { merchantId: other.id, environment: 'live' }),
        (e: Error & { code?: string }) => e.code === 'RESOURCE_NOT_FOUND',
      );
    });
  });
});
