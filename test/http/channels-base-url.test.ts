/**
 * Where a channel's sealed credentials may be sent. A new base URL needs the channel's secrets in the
 * same request; production and safaricom-sandbox channels call only Safaricom's host of their
 * environment unless MALIPO_DARAJA_ALLOWED_HOSTS allows another; every base URL passes the outbound
 * SSRF guard when saved and again at each connection, connecting to the very address the guard
 * approved (DNS pinned); production mode refuses simulator channels, also ones saved before.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { createChannel, DEVELOPMENT_CHANNEL_POLICY, resolveChannel } from '../../src/platform/channels';
import type { ResolvedAddress, Resolver } from '../../src/webhooks/ssrf';
import {
  CHANNEL_DEFAULTS,
  expectEnvelope,
  startTestApp,
  type TestApp,
  type TestMerchant,
} from '../helpers/http';

const PUBLIC: ResolvedAddress[] = [{ address: '93.184.216.34', family: 4 }];

/** DNS for the guard: names the tests set, public for Safaricom's hosts, nothing for the rest. */
function fakeDns() {
  const names = new Map<string, ResolvedAddress[]>([
    ['api.safaricom.co.ke', PUBLIC],
    ['sandbox.safaricom.co.ke', PUBLIC],
    ['proxy.example.com', PUBLIC],
    ['evil.example.com', PUBLIC],
    ['internal.example.com', [{ address: '10.0.0.5', family: 4 }]],
  ]);
  const resolve: Resolver = async (host) => {
    const a = names.get(host);
    if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return a;
  };
  return { names, resolve };
}

const SANDBOX_CHANNEL = {
  type: 'paybill',
  shortcode: '600123',
  environment: 'safaricom-sandbox',
  passkey: 'PASSKEY-old-value-0001',
  consumerKey: 'CONSUMERKEY-old-0002',
  consumerSecret: 'CONSUMERSECRET-old-0003',
  initiatorName: 'apiop',
  initiatorPassword: 'INITIATORPW-old-0004',
  isDefault: false,
};
const NEW_SECRETS = {
  passkey: 'PASSKEY-new-value-1001',
  consumerKey: 'CONSUMERKEY-new-1002',
  consumerSecret: 'CONSUMERSECRET-new-1003',
  initiatorPassword: 'INITIATORPW-new-1004',
};

const detailsOf = (b: { error: { details?: unknown[] } }) =>
  (b.error.details ?? []) as Array<{ path: string; code: string; message: string }>;

/** A fake Daraja answering OAuth and the QR endpoint, recording the Host header of each request. */
async function fakeQrDaraja(): Promise<{ port: number; hosts: string[]; close(): Promise<void> }> {
  const hosts: string[] = [];
  const app = express();
  app.use((req, _res, next) => {
    hosts.push(String(req.headers.host));
    next();
  });
  app.get('/d/oauth/v1/generate', (_req, res) => {
    res.json({ access_token: 'tok', expires_in: '3599' });
  });
  app.post('/d/mpesa/qrcode/v1/generate', (_req, res) => {
    res.json({ ResponseCode: '00', RequestID: 'req-1', ResponseDescription: 'ok', QRCode: 'iVBORw0KGgo=' });
  });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    port: (server.address() as AddressInfo).port,
    hosts,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('channel base URLs (development mode)', () => {
  const dns = fakeDns();
  let t: TestApp;
  let m: TestMerchant;
  let live: string;

  before(async () => {
    t = await startTestApp({
      env: { MALIPO_DARAJA_ALLOWED_HOSTS: 'proxy.example.com' },
      overrides: { webhookResolver: dns.resolve },
    });
    m = await t.merchant('Shop');
    live = (await t.key(m.id, ['*'], { env: 'live' })).key;
  });
  after(() => t.close());

  const create = (body: object, key = m.key) => t.request('POST', '/v1/channels', { key, body });
  const patch = (id: string, body: object, key = m.key) =>
    t.request('PATCH', `/v1/channels/${id}`, { key, body });

  describe('a new base URL needs the channel’s secrets', () => {
    it('refuses a baseUrl change without every secret the channel holds, and keeps the channel as it was', async () => {
      const ch = await create(SANDBOX_CHANNEL);
      assert.equal(ch.status, 201, ch.text);
      const r = await patch(ch.body.id, { baseUrl: 'https://proxy.example.com' });
      const b = expectEnvelope(r, 400, 'VALIDATION_ERROR');
      assert.match(b.message, /baseUrl/);
      assert.deepEqual(
        detailsOf(b)
          .map((d) => `${d.path}:${d.code}`)
          .sort(),
        [
          'consumerKey:secret_required',
          'consumerSecret:secret_required',
          'initiatorPassword:secret_required',
          'passkey:secret_required',
        ],
      );
      const partial = await patch(ch.body.id, {
        baseUrl: 'https://proxy.example.com',
        consumerKey: NEW_SECRETS.consumerKey,
        consumerSecret: NEW_SECRETS.consumerSecret,
      });
      assert.deepEqual(
        detailsOf(expectEnvelope(partial, 400, 'VALIDATION_ERROR')).map((d) => d.path),
        ['passkey', 'initiatorPassword'],
      );
      const row = await t.db
        .selectFrom('channels')
        .selectAll()
        .where('id', '=', ch.body.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.base_url, null, 'nothing changed');
      const creds = (
        await resolveChannel(t.db, t.secretBox, { merchantId: m.id, environment: 'test' }, ch.body.id)
      ).credentials;
      assert.equal(creds.consumerKey, SANDBOX_CHANNEL.consumerKey);
    });

    it('accepts the change with the secrets, and stores the new ones', async () => {
      const ch = await create(SANDBOX_CHANNEL);
      const r = await patch(ch.body.id, { baseUrl: 'https://proxy.example.com/daraja', ...NEW_SECRETS });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.baseUrl, 'https://proxy.example.com/daraja');
      const creds = (
        await resolveChannel(t.db, t.secretBox, { merchantId: m.id, environment: 'test' }, ch.body.id)
      ).credentials;
      assert.equal(creds.consumerSecret, NEW_SECRETS.consumerSecret);
      assert.equal(creds.initiatorPassword, NEW_SECRETS.initiatorPassword);

      // back to Safaricom's default is a change of host too
      const back = await patch(ch.body.id, { baseUrl: null });
      assert.equal(detailsOf(expectEnvelope(back, 400, 'VALIDATION_ERROR')).length, 4);
      // dropping the initiator password (null) counts as re-entering it
      const ok = await patch(ch.body.id, {
        baseUrl: null,
        passkey: SANDBOX_CHANNEL.passkey,
        consumerKey: SANDBOX_CHANNEL.consumerKey,
        consumerSecret: SANDBOX_CHANNEL.consumerSecret,
        initiatorPassword: null,
      });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.body.baseUrl, 'https://sandbox.safaricom.co.ke');
      assert.equal(ok.body.credentials.initiatorPassword, null);
    });

    it('needs no secrets when the base URL stays the same; a simulator channel needs them to move', async () => {
      const ch = await t.channel(m.id, { isDefault: false });
      const same = await patch(ch.id, { baseUrl: CHANNEL_DEFAULTS.baseUrl, name: 'renamed' });
      assert.equal(same.status, 200, same.text);
      const moved = await patch(ch.id, { baseUrl: 'http://127.0.0.1:10/sandbox/daraja' });
      assert.deepEqual(
        detailsOf(expectEnvelope(moved, 400, 'VALIDATION_ERROR')).map((d) => d.path),
        ['passkey', 'consumerKey', 'consumerSecret'],
      );
    });
  });

  describe('production and safaricom-sandbox channels call only Safaricom’s host', () => {
    it('refuses another host, the other environment’s host, and http', async () => {
      const refused = async (body: object, key: string, code: string) => {
        const b = expectEnvelope(await create(body, key), 400, 'VALIDATION_ERROR');
        assert.equal(detailsOf(b)[0]?.path, 'baseUrl', b.message);
        assert.equal(detailsOf(b)[0]?.code, code, b.message);
        return b;
      };
      const prod = { ...SANDBOX_CHANNEL, environment: 'production' };
      const b = await refused({ ...prod, baseUrl: 'https://evil.example.com' }, live, 'host_not_allowed');
      assert.match(b.message, /api\.safaricom\.co\.ke/);
      assert.match(b.message, /MALIPO_DARAJA_ALLOWED_HOSTS/);
      await refused({ ...SANDBOX_CHANNEL, baseUrl: 'https://evil.example.com' }, m.key, 'host_not_allowed');
      await refused(
        { ...SANDBOX_CHANNEL, baseUrl: 'https://api.safaricom.co.ke' },
        m.key,
        'host_not_allowed',
      );
      await refused({ ...prod, baseUrl: 'https://sandbox.safaricom.co.ke' }, live, 'host_not_allowed');
      await refused(
        { ...SANDBOX_CHANNEL, baseUrl: 'http://sandbox.safaricom.co.ke' },
        m.key,
        'url_not_allowed',
      );
    });

    it('accepts Safaricom’s host, and a host the operator allows', async () => {
      const a = await create({ ...SANDBOX_CHANNEL, baseUrl: 'https://sandbox.safaricom.co.ke' });
      assert.equal(a.status, 201, a.text);
      const p = await create(
        { ...SANDBOX_CHANNEL, environment: 'production', baseUrl: 'https://api.safaricom.co.ke/' },
        live,
      );
      assert.equal(p.status, 201, p.text);
      const allowed = await create(
        { ...SANDBOX_CHANNEL, environment: 'production', baseUrl: 'https://PROXY.example.com/daraja' },
        live,
      );
      assert.equal(allowed.status, 201, allowed.text);
    });

    it('refuses moving a channel to another host, secrets or not', async () => {
      const ch = await create(SANDBOX_CHANNEL);
      const r = await patch(ch.body.id, { baseUrl: 'https://evil.example.com', ...NEW_SECRETS });
      assert.equal(detailsOf(expectEnvelope(r, 400, 'VALIDATION_ERROR'))[0]?.code, 'host_not_allowed');
    });
  });

  describe('the outbound guard on save', () => {
    it('refuses metadata, private, credentials, a query and a fragment; keeps loopback for the simulator', async () => {
      const sim = (baseUrl: string) => create({ ...SANDBOX_CHANNEL, environment: 'simulator', baseUrl });
      for (const [url, why] of [
        ['http://169.254.169.254/latest', /metadata/],
        ['http://10.0.0.5:8080/daraja', /private/],
        ['http://internal.example.com/daraja', /resolves to a private/],
        ['http://user:pw@127.0.0.1:9/sandbox/daraja', /credentials/],
        ['http://127.0.0.1:9/sandbox/daraja?x=1', /query/],
        ['http://127.0.0.1:9/sandbox/daraja#top', /fragment/],
      ] as const) {
        const b = expectEnvelope(await sim(url), 400, 'VALIDATION_ERROR');
        assert.match(b.message, why, url);
        assert.equal(detailsOf(b)[0]?.path, 'baseUrl');
      }
      const ok = await sim('http://127.0.0.1:9/sandbox/daraja');
      assert.equal(ok.status, 201, ok.text);
      const moved = await patch(ok.body.id, {
        baseUrl: 'http://[::ffff:169.254.169.254]/x',
        passkey: 'p',
        consumerKey: 'k',
        consumerSecret: 's',
      });
      expectEnvelope(moved, 400, 'VALIDATION_ERROR');
    });
  });

  describe('at connect time', () => {
    let fake: Awaited<ReturnType<typeof fakeQrDaraja>>;
    before(async () => {
      fake = await fakeQrDaraja();
    });
    after(() => fake.close());

    it('connects to the address the guard approved (DNS pinned), not to what the system resolver says', async () => {
      // the system resolver knows no such name: only the guard's answer can reach the fake
      dns.names.set('daraja.pinned.test', [{ address: '127.0.0.1', family: 4 }]);
      const ch = await t.channel(m.id, {
        isDefault: false,
        baseUrl: `http://daraja.pinned.test:${fake.port}/d`,
      });
      fake.hosts.length = 0;
      const r = await t.request('POST', '/v1/qr', {
        key: m.key,
        body: { amount: 10, reference: 'INV1', channelId: ch.id },
      });
      assert.equal(r.status, 200, r.text);
      assert.ok(fake.hosts.length >= 2, 'OAuth and the QR request reached the approved address');
      for (const h of fake.hosts) assert.equal(h, `daraja.pinned.test:${fake.port}`);
    });

    it('refuses a name that resolves elsewhere after it was saved (DNS rebinding); nothing is sent', async () => {
      dns.names.set('daraja.rebind.test', [{ address: '127.0.0.1', family: 4 }]);
      const ch = await t.channel(m.id, {
        isDefault: false,
        baseUrl: `http://daraja.rebind.test:${fake.port}/d`,
      });
      dns.names.set('daraja.rebind.test', [{ address: '10.1.2.3', family: 4 }]);
      fake.hosts.length = 0;
      const r = await t.request('POST', '/v1/qr', {
        key: m.key,
        body: { amount: 10, reference: 'INV1', channelId: ch.id },
      });
      const b = expectEnvelope(r, 400, 'VALIDATION_ERROR');
      assert.match(b.message, /base URL is not allowed: daraja\.rebind\.test resolves to a private address/);
      assert.equal(fake.hosts.length, 0);
    });
  });
});

describe('channel base URLs (production mode)', () => {
  const dns = fakeDns();
  let t: TestApp;
  let m: TestMerchant;
  let live: string;

  before(async () => {
    t = await startTestApp({
      env: {
        MALIPO_MODE: 'production',
        MALIPO_PUBLIC_URL: 'https://malipo.example.com',
        MALIPO_ENCRYPTION_KEY: 'ab'.repeat(32),
        MALIPO_DARAJA_ALLOWED_HOSTS: 'proxy.example.com, internal.example.com',
      },
      overrides: { webhookResolver: dns.resolve },
    });
    m = await t.merchant('Shop');
    live = (await t.key(m.id, ['*'], { env: 'live' })).key;
  });
  after(() => t.close());

  it('refuses to create a simulator channel', async () => {
    const r = await t.request('POST', '/v1/channels', {
      key: m.key,
      body: { ...SANDBOX_CHANNEL, environment: 'simulator', baseUrl: 'https://proxy.example.com/sim' },
    });
    const b = expectEnvelope(r, 400, 'VALIDATION_ERROR');
    assert.equal(detailsOf(b)[0]?.code, 'simulator_in_production');
  });

  it('a simulator channel saved before: no update but disabling, and no Daraja call', async () => {
    const ch = await createChannel(
      t.db,
      t.secretBox,
      m.id,
      { ...CHANNEL_DEFAULTS, isDefault: false, baseUrl: 'https://proxy.example.com/sim' },
      { actor: 'test' },
      DEVELOPMENT_CHANNEL_POLICY,
    );
    const rename = await t.request('PATCH', `/v1/channels/${ch.id}`, { key: m.key, body: { name: 'x' } });
    assert.equal(
      detailsOf(expectEnvelope(rename, 400, 'VALIDATION_ERROR'))[0]?.code,
      'simulator_in_production',
    );
    const qr = await t.request('POST', '/v1/qr', {
      key: m.key,
      body: { amount: 10, reference: 'INV1', channelId: ch.id },
    });
    assert.equal(detailsOf(expectEnvelope(qr, 400, 'VALIDATION_ERROR'))[0]?.code, 'simulator_in_production');
    const off = await t.request('PATCH', `/v1/channels/${ch.id}`, {
      key: m.key,
      body: { status: 'disabled' },
    });
    assert.equal(off.status, 200, off.text);
    assert.equal(off.body.status, 'disabled');
  });

  it('requires https and refuses an allowed host that resolves to a private address', async () => {
    const prod = { ...SANDBOX_CHANNEL, environment: 'production' };
    const http = await t.request('POST', '/v1/channels', {
      key: live,
      body: { ...prod, baseUrl: 'http://proxy.example.com/daraja' },
    });
    assert.match(expectEnvelope(http, 400, 'VALIDATION_ERROR').message, /https/);
    const internal = await t.request('POST', '/v1/channels', {
      key: live,
      body: { ...prod, baseUrl: 'https://internal.example.com/daraja' },
    });
    assert.match(expectEnvelope(internal, 400, 'VALIDATION_ERROR').message, /resolves to a private address/);
    const ok = await t.request('POST', '/v1/channels', {
      key: live,
      body: { ...prod, baseUrl: 'https://proxy.example.com/daraja' },
    });
    assert.equal(ok.status, 201, ok.text);
  });

  it('refuses at connect time a saved host that now resolves to the metadata address', async () => {
    dns.names.set('proxy.example.com', PUBLIC);
    const ch = await t.request('POST', '/v1/channels', {
      key: live,
      body: { ...SANDBOX_CHANNEL, environment: 'production', baseUrl: 'https://proxy.example.com/d2' },
    });
    assert.equal(ch.status, 201, ch.text);
    dns.names.set('proxy.example.com', [{ address: '169.254.169.254', family: 4 }]);
    try {
      const r = await t.request('POST', '/v1/qr', {
        key: live,
        body: { amount: 10, reference: 'INV1', channelId: ch.body.id },
      });
      assert.match(expectEnvelope(r, 400, 'VALIDATION_ERROR').message, /cloud metadata/);
    } finally {
      dns.names.set('proxy.example.com', PUBLIC);
    }
  });
});
