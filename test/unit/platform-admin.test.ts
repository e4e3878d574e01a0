/** `malipo admin …` command functions and the development-mode bootstrap, on in-memory PGlite. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import {
  type AdminContext,
  adminAuditList,
  adminChannelCreate,
  adminChannelList,
  adminKeyCreate,
  adminKeyList,
  adminKeyRevoke,
  adminKeyRotate,
  adminMerchantCreate,
  adminMerchantList,
} from '../../src/admin/commands';
import { DEV_CREDENTIALS_FILE, ensureDevCredentials } from '../../src/admin/dev-bootstrap';
import { buildCli } from '../../src/cli';
import { type DatabaseHandle, openDatabase } from '../../src/db';
import { MalipoError } from '../../src/domain/errors';
import { DEVELOPMENT_CHANNEL_POLICY } from '../../src/platform/channels';
import { findActiveKey } from '../../src/platform/keys';
import { SecretBox } from '../../src/platform/secret-box';

describe('malipo admin', () => {
  let handle: DatabaseHandle;
  let ctx: AdminContext;

  before(async () => {
    handle = await openDatabase({});
    ctx = {
      db: handle.db,
      secretBox: new SecretBox(crypto.randomBytes(32)),
      channelPolicy: DEVELOPMENT_CHANNEL_POLICY,
    };
  });
  after(() => handle.close());

  it('registers merchant, key, channel, audit and reconcile commands', () => {
    const admin = buildCli().commands.find((c) => c.name() === 'admin');
    assert.ok(admin);
    assert.deepEqual(admin.commands.map((c) => c.name()).sort(), [
      'audit',
      'channel',
      'key',
      'merchant',
      'reconcile',
    ]);
    const key = admin.commands.find((c) => c.name() === 'key')!;
    assert.deepEqual(key.commands.map((c) => c.name()).sort(), ['create', 'list', 'revoke', 'rotate']);
  });

  it('creates a merchant, a key, a channel; lists, rotates and revokes; audits all as cli', async () => {
    const m = await adminMerchantCreate(ctx, { name: 'Duka Ltd' });
    assert.match(m.id, /^mer_/);
    assert.ok((await adminMerchantList(ctx)).some((x) => x.id === m.id));

    const k = await adminKeyCreate(ctx, {
      merchant: m.id,
      env: 'live',
      scopes: 'payments:create, payments:read',
    });
    assert.match(k.key, /^mlp_live_/);
    assert.deepEqual(k.scopes, ['payments:create', 'payments:read']);
    assert.deepEqual((await findActiveKey(ctx.db, k.key))?.environment, 'live');

    const ch = await adminChannelCreate(
      ctx,
      { merchant: m.id, env: 'production', type: 'till', shortcode: '7000001', tillNumber: '5000001' },
      {
        MALIPO_CHANNEL_PASSKEY: 'from-env-passkey-000A',
        MALIPO_CHANNEL_CONSUMER_KEY: 'from-env-consumer-key-000B',
        MALIPO_CHANNEL_CONSUMER_SECRET: 'from-env-consumer-secret-000C',
      },
    );
    assert.equal(ch.credentials.passkey, '••••000A');
    assert.equal(ch.isDefault, true);
    assert.equal((await adminChannelList(ctx, { merchant: m.id })).length, 1);
    const raw = JSON.stringify((await sql`select * from channels`.execute(ctx.db)).rows);
    assert.ok(!raw.includes('from-env-passkey'));

    const rotated = await adminKeyRotate(ctx, { key: k.id, overlapSeconds: 60 });
    assert.equal(rotated.previous.state, 'active');
    assert.ok(await findActiveKey(ctx.db, k.key), 'the old key works during the overlap');
    const revoked = await adminKeyRevoke(ctx, { key: k.id });
    assert.equal(revoked.state, 'revoked');
    assert.equal(await findActiveKey(ctx.db, k.key), undefined);
    assert.equal((await adminKeyList(ctx, { merchant: m.id })).length, 2);

    const audit = await adminAuditList(ctx, { merchant: m.id });
    assert.deepEqual(audit.map((a) => a.action).sort(), [
      'channel.create',
      'key.create',
      'key.revoke',
      'key.rotate',
      'merchant.create',
    ]);
    assert.ok(audit.every((a) => a.actor === 'cli'));
    assert.ok(audit.every((a) => a.created_at instanceof Date && a.target_id));
  });

  it('refuses bad input with the same error codes as the API', async () => {
    const m = await adminMerchantCreate(ctx, { name: 'Other' });
    const code = (e: unknown) => (e instanceof MalipoError ? e.code : String(e));
    await assert.rejects(
      adminKeyCreate(ctx, { merchant: m.id, env: 'prod', scopes: '*' }),
      (e) => code(e) === 'VALIDATION_ERROR',
    );
    await assert.rejects(
      adminKeyCreate(ctx, { merchant: m.id, env: 'test', scopes: 'pay' }),
      (e) => code(e) === 'VALIDATION_ERROR',
    );
    await assert.rejects(
      adminKeyCreate(ctx, { merchant: 'mer_nope', env: 'test', scopes: '*' }),
      (e) => code(e) === 'RESOURCE_NOT_FOUND',
    );
    await assert.rejects(
      adminChannelCreate(ctx, { merchant: m.id, env: 'simulator', type: 'paybill', shortcode: '174379' }, {}),
      (e) => code(e) === 'VALIDATION_ERROR',
    );
    await assert.rejects(adminKeyRevoke(ctx, { key: 'key_nope' }), (e) => code(e) === 'RESOURCE_NOT_FOUND');
  });
});

describe('development bootstrap', () => {
  let handle: DatabaseHandle;
  let dataDir: string;
  const box = new SecretBox(crypto.randomBytes(32));

  before(async () => {
    handle = await openDatabase({});
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'malipo-dev-creds-'));
  });
  after(async () => {
    await handle.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const config = (publicUrl = 'http://127.0.0.1:3000') => ({ isProduction: false, dataDir, publicUrl });

  it('creates a demo merchant, a simulator channel and an all-scopes test key, written to the data dir', async () => {
    const c = await ensureDevCredentials({ config: config(), db: handle.db, secretBox: box });
    assert.ok(c);
    assert.match(c.apiKey, /^mlp_test_/);
    assert.match(c.webhookSecret, /^whsec_/);
    assert.match(c.curl, /^curl -s http:\/\/127\.0\.0\.1:3000\/v1\/payments\/stk-push /);
    assert.ok(c.curl.includes(`Authorization: Bearer ${c.apiKey}`));
    assert.match(c.curl, /"phone":"0708374149"/);
    const auth = await findActiveKey(handle.db, c.apiKey);
    assert.deepEqual(auth?.scopes, ['*']);
    const ch = await handle.db
      .selectFrom('channels')
      .selectAll()
      .where('id', '=', c.channelId)
      .executeTakeFirstOrThrow();
    assert.equal(ch.environment, 'simulator');
    assert.equal(ch.base_url, 'http://127.0.0.1:3000/sandbox/daraja');
    assert.equal(ch.is_default, true);
    const file = path.join(dataDir, DEV_CREDENTIALS_FILE);
    // the one-time dashboard sign-in link is printed, never saved
    const { dashboardSignInUrl, ...saved } = c;
    assert.match(
      dashboardSignInUrl ?? '',
      /^http:\/\/127\.0\.0\.1:3000\/dashboard\/sign-in\/[A-Za-z0-9_-]{43}$/,
    );
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), saved);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  });

  it('is idempotent: a second run reuses the same merchant, channel and key (and follows a new port)', async () => {
    const first = JSON.parse(fs.readFileSync(path.join(dataDir, DEV_CREDENTIALS_FILE), 'utf8'));
    const again = await ensureDevCredentials({
      config: config('http://127.0.0.1:4000'),
      db: handle.db,
      secretBox: box,
    });
    assert.equal(again?.apiKey, first.apiKey);
    assert.equal(again?.merchantId, first.merchantId);
    assert.equal(again?.channelId, first.channelId);
    assert.equal((await handle.db.selectFrom('merchants').select('id').execute()).length, 1);
    assert.equal((await handle.db.selectFrom('api_keys').select('id').execute()).length, 1);
    const ch = await handle.db
      .selectFrom('channels')
      .selectAll()
      .where('id', '=', first.channelId)
      .executeTakeFirstOrThrow();
    assert.equal(ch.base_url, 'http://127.0.0.1:4000/sandbox/daraja');
  });

  it('issues a new key if the saved one was revoked', async () => {
    const first = JSON.parse(fs.readFileSync(path.join(dataDir, DEV_CREDENTIALS_FILE), 'utf8'));
    await handle.db.updateTable('api_keys').set({ revoked_at: new Date() }).execute();
    const again = await ensureDevCredentials({ config: config(), db: handle.db, secretBox: box });
    assert.notEqual(again?.apiKey, first.apiKey);
    assert.equal(again?.merchantId, first.merchantId);
    assert.ok(await findActiveKey(handle.db, again!.apiKey));
  });

  it('never runs in production mode', async () => {
    const prodDir = fs.mkdtempSync(path.join(os.tmpdir(), 'malipo-prod-'));
    const db = await openDatabase({});
    try {
      const r = await ensureDevCredentials({
        config: { isProduction: true, dataDir: prodDir, publicUrl: 'https://pay.example.com' },
        db: db.db,
        secretBox: box,
      });
      assert.equal(r, undefined);
      assert.equal(fs.existsSync(path.join(prodDir, DEV_CREDENTIALS_FILE)), false);
      assert.equal((await db.db.selectFrom('merchants').select('id').execute()).length, 0);
    } finally {
      await db.close();
      fs.rmSync(prodDir, { recursive: true, force: true });
    }
  });
});
