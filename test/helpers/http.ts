/**
 * Builds the real express app on an in-memory PGlite (or a given database), listening on a free port,
 * with helpers to create merchants, keys and channels the way the API and CLI do. Later route tests reuse it:
 *
 *   const t = await startTestApp();               // in `before`
 *   const m = await t.merchant('Shop');            // a merchant with an all-scopes test key (m.key)
 *   const k = await t.key(m.id, ['payments:read']); // more keys
 *   const ch = await t.channel(m.id);              // a default simulator channel
 *   const r = await t.request('GET', '/v1/channels', { key: m.key });
 *   await t.close();                              // in `after`
 */
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import { type Config, loadConfig } from '../../src/config';
import { type DatabaseHandle, openDatabase } from '../../src/db';
import { type AppInput, createApp } from '../../src/http/app';
import type { RouteDef } from '../../src/http/route';
import { createLogger, type Logger } from '../../src/logger';
import {
  type ChannelInput,
  channelUrlPolicy,
  createChannel,
  type PublicChannel,
} from '../../src/platform/channels';
import { createApiKey, type IssuedKey, OPERATOR, revokeApiKey } from '../../src/platform/keys';
import { createMerchant } from '../../src/platform/merchants';
import type { KeyEnvironment, Scope } from '../../src/platform/scopes';
import { SecretBox } from '../../src/platform/secret-box';

export interface TestResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
  body: any;
  text: string;
}

export interface RequestOptions {
  /** Sent as `Authorization: Bearer <key>`. */
  key?: string;
  /** JSON-encoded unless `raw` is given. */
  body?: unknown;
  /** Sent as is, with `contentType` (default application/json). */
  raw?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface TestMerchant {
  id: string;
  /** An all-scopes `test` key. */
  key: string;
  keyId: string;
  issued: IssuedKey;
}

export interface TestApp {
  url: string;
  deps: AppInput;
  db: DatabaseHandle['db'];
  handle: DatabaseHandle;
  secretBox: SecretBox;
  config: Config;
  request(method: string, path: string, opts?: RequestOptions): Promise<TestResponse>;
  merchant(name?: string): Promise<TestMerchant>;
  key(
    merchantId: string,
    scopes: Scope[],
    opts?: { env?: KeyEnvironment; expiresAt?: Date },
  ): Promise<IssuedKey>;
  channel(merchantId: string, input?: Partial<ChannelInput>): Promise<PublicChannel>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** An open database (e.g. from testDatabases()); by default a fresh in-memory PGlite, closed with the app. */
  db?: DatabaseHandle;
  extraRoutes?: RouteDef[];
  rateLimit?: AppInput['rateLimit'];
  env?: Record<string, string>;
  logger?: Logger;
  temporal?: Client;
  /** Further AppInput fields (e.g. `webhookResolver`, `deliveryStarter`), over the defaults above. */
  overrides?: Partial<AppInput>;
}

/** A Temporal client stand-in that answers /readyz; routes that start workflows pass a real one. */
export const fakeTemporal = {
  workflowService: { getSystemInfo: async () => ({}) },
} as unknown as Client;

export const CHANNEL_DEFAULTS: ChannelInput = {
  type: 'paybill',
  shortcode: '174379',
  environment: 'simulator',
  baseUrl: 'http://127.0.0.1:9/sandbox/daraja',
  passkey: 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919',
  consumerKey: 'ck_live_consumer_key_value_1234',
  consumerSecret: 'cs_secret_consumer_value_5678',
};

export async function startTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const handle = opts.db ?? (await openDatabase({}));
  const config = loadConfig({ LOG_LEVEL: 'silent', MALIPO_MODE: 'development', ...opts.env });
  const secretBox = new SecretBox(crypto.randomBytes(32));
  const deps: AppInput = {
    config,
    db: handle.db,
    temporal: opts.temporal ?? fakeTemporal,
    logger: opts.logger ?? createLogger('silent'),
    secretBox,
    extraRoutes: opts.extraRoutes,
    rateLimit: opts.rateLimit,
    ...opts.overrides,
  };
  const app = createApp(deps);
  const server = await new Promise<import('node:http').Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const db = handle.db;
  const cli = { actor: 'test' };

  const t: TestApp = {
    url,
    deps,
    db,
    handle,
    secretBox,
    config,
    async request(method, path, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      if (o.key !== undefined) headers.authorization = `Bearer ${o.key}`;
      let body: string | Buffer | undefined;
      if (o.raw !== undefined) {
        body = o.raw;
        headers['content-type'] = o.contentType ?? 'application/json';
      } else if (o.body !== undefined) {
        body = JSON.stringify(o.body);
        headers['content-type'] = o.contentType ?? 'application/json';
      }
      const res = await fetch(url + path, { method, headers, ...(body !== undefined ? { body } : {}) });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.status, headers: res.headers, body: parsed, text };
    },
    async merchant(name = 'Test merchant') {
      const m = await createMerchant(db, { name }, cli);
      const issued = await t.key(m.id, ['*']);
      return { id: m.id, key: issued.key, keyId: issued.id, issued };
    },
    key(merchantId, scopes, o = {}) {
      return createApiKey(
        db,
        secretBox,
        { merchantId, environment: o.env ?? 'test', scopes, expiresAt: o.expiresAt ?? null },
        cli,
        OPERATOR,
      );
    },
    channel(merchantId, input = {}) {
      const policy = channelUrlPolicy(config, deps.webhookResolver);
      return createChannel(db, secretBox, merchantId, { ...CHANNEL_DEFAULTS, ...input }, cli, policy);
    },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(undefined)));
      if (!opts.db) await handle.close();
    },
  };
  return t;
}

/** Asserts the shape every error response shares; returns the body for further checks. */
export function expectEnvelope(res: TestResponse, status: number, code: string) {
  const b = res.body;
  const ok =
    res.status === status &&
    b &&
    typeof b.message === 'string' &&
    b.error?.code === code &&
    typeof b.error?.message === 'string' &&
    typeof b.requestId === 'string' &&
    b.requestId === res.headers.get('x-request-id');
  if (!ok) {
    throw new Error(
      `expected ${status} ${code} in the error envelope, got ${res.status}: ${res.text.slice(0, 500)}`,
    );
  }
  return b as {
    message: string;
    error: { code: string; message: string; details?: unknown[] };
    requestId: string;
  };
}

/**
 * The security cases every authenticated route must pass: no key → 401 UNAUTHORIZED, a wrong key and a
 * revoked key (that holds the scope) → 401 INVALID_API_KEY, a key without the scope → 403 MISSING_SCOPE.
 * Another merchant's resource is route-specific; test it beside the route.
 */
export async function expectSecured(
  t: TestApp,
  merchantId: string,
  route: { method: string; path: string; body?: unknown; scope: Scope },
): Promise<void> {
  const { method, path, body } = route;
  const send = (key?: string) => t.request(method, path, { ...(key ? { key } : {}), body });
  expectEnvelope(await send(), 401, 'UNAUTHORIZED');
  expectEnvelope(await send(`mlp_test_${'A'.repeat(43)}`), 401, 'INVALID_API_KEY');
  expectEnvelope(await send('not-even-a-key'), 401, 'INVALID_API_KEY');
  const revoked = await t.key(merchantId, [route.scope]);
  await revokeApiKey(t.db, merchantId, revoked.id, { actor: 'test' }, OPERATOR);
  expectEnvelope(await send(revoked.key), 401, 'INVALID_API_KEY');
  const other: Scope = route.scope === 'balance:read' ? 'payouts:read' : 'balance:read';
  const lacking = await t.key(merchantId, [other]);
  const r = await send(lacking.key);
  const b = expectEnvelope(r, 403, 'MISSING_SCOPE');
  if (!b.error.message.includes(route.scope)) throw new Error(`MISSING_SCOPE should name ${route.scope}`);
}
