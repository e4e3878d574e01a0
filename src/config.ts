/** Every setting Malipo reads, in one zod schema over the environment, parsed once at boot. */
import net from 'node:net';
import path from 'node:path';
import { z } from 'zod';

/** A secret that prints as `[redacted]` in logs, JSON and inspection. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[redacted]';
  }
}

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const secret = optionalString.transform((v) => (v === undefined ? undefined : new Secret(v)));
/** An integer setting in [min, max] with a default. */
const int = (min: number, max: number, def: number) => z.coerce.number().int().min(min).max(max).default(def);
/** An integer setting of at least 1 (a count or a limit) with a default. */
const positiveInt = (def: number) => z.coerce.number().int().min(1).default(def);
const port = (def: number) => int(0, 65535, def);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .optional()
    .transform((v) => (v === undefined ? def : v === 'true' || v === '1' || v === 'yes'));

/** What express's `trust proxy` is set to: never `true` unless asked for (and never in production). */
export type TrustProxy = boolean | number | string[];

/** express's names for address ranges (proxy-addr): loopback, link-local and unique-local addresses. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** An address, `address/prefix`, or one of express's range names. */
function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGE_NAMES.includes(entry)) return true;
  const [addr = '', prefix, ...rest] = entry.split('/');
  const family = net.isIP(addr);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** `false` (default), `true`, a hop count (0–10), or a comma-separated list of proxy addresses/CIDRs. */
const trustProxy = optionalString.transform((v, ctx): TrustProxy => {
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) {
    const hops = Number(v);
    if (hops <= 10) return hops === 0 ? false : hops;
  }
  const list = v.split(',').map((e) => e.trim());
  const bad = list.filter((e) => !isProxyAddress(e));
  if (bad.length > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `expected false, a hop count (0-10), or comma-separated proxy addresses/CIDRs (or loopback, linklocal, uniquelocal); not ${JSON.stringify(bad.join(','))}`,
    });
    return z.NEVER;
  }
  return list;
});

/**
 * One variable's documentation, which `npm run docs:config` writes into docs/configuration.md:
 * what it means and, where the schema has no plain default, what applies when it is unset.
 */
function doc<T extends z.ZodType>(schema: T, description: string, unset?: string): T {
  return schema.meta(unset === undefined ? { description } : { description, unset });
}

export const EnvSchema = z.object({
  PORT: doc(port(3000), 'HTTP port of the API.'),
  HOST: doc(z.string().default('127.0.0.1'), 'Interface the API binds to.'),
  MALIPO_MODE: doc(
    z.enum(['development', 'production']).default('development'),
    '`development` or `production`. Production requires `MALIPO_PUBLIC_URL` and `MALIPO_ENCRYPTION_KEY`, never mounts the sandbox and never creates demo credentials.',
  ),
  MALIPO_DATA_DIR: doc(
    z.string().default('.data'),
    'The embedded database, the Temporal SQLite file and generated development secrets.',
  ),
  MALIPO_PUBLIC_URL: doc(
    optionalString.pipe(z.url().optional()),
    'The base URL Daraja calls back and links point to.',
    '`http://127.0.0.1:$PORT`',
  ),
  MALIPO_ENCRYPTION_KEY: doc(
    secret,
    '32 bytes (64 hex or 44 base64 characters); seals channel credentials and webhook secrets with AES-256-GCM.',
    'generated into the data dir in development',
  ),
  MALIPO_CALLBACK_SECRET: doc(
    secret,
    'Server secret of the tokens in Daraja callback URLs.',
    'derived from the encryption key',
  ),
  TEMPORAL_ADDRESS: doc(
    optionalString,
    'Unset: `malipo dev` starts the embedded dev server; set: connect to this cluster (`host:port`).',
  ),
  TEMPORAL_NAMESPACE: doc(z.string().default('default'), 'Temporal namespace.'),
  TEMPORAL_TASK_QUEUE: doc(z.string().default('malipo'), 'Task queue of the worker.'),
  TEMPORAL_TLS_CERT_PATH: doc(
    optionalString,
    'mTLS client certificate for a self-hosted cluster (set together with `TEMPORAL_TLS_KEY_PATH`).',
  ),
  TEMPORAL_TLS_KEY_PATH: doc(
    optionalString,
    'mTLS client key for a self-hosted cluster (set together with `TEMPORAL_TLS_CERT_PATH`).',
  ),
  TEMPORAL_TLS_CA_PATH: doc(optionalString, 'Custom CA for mTLS.'),
  TEMPORAL_TLS_SERVER_NAME: doc(optionalString, 'Server name for mTLS.'),
  TEMPORAL_API_KEY: doc(secret, 'API key for Temporal Cloud (implies TLS).'),
  TEMPORAL_PORT: doc(port(7233), 'gRPC port of the embedded dev server.'),
  TEMPORAL_UI_PORT: doc(port(8233), 'Temporal UI port of the embedded dev server.'),
  DATABASE_URL: doc(secret, '`postgres://…` for PostgreSQL; unset uses PGlite under `$MALIPO_DATA_DIR/db`.'),
  LOG_LEVEL: doc(
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    '`fatal` … `trace`, or `silent`.',
  ),
  MALIPO_SANDBOX: doc(
    bool(true),
    'Mount the Daraja simulator at `/sandbox` (development mode only).',
    '`true`',
  ),
  MALIPO_RATE_LIMIT_CREATE_PER_MINUTE: doc(
    positiveInt(60),
    'Requests per minute per API key on payment and payout creation routes.',
  ),
  MALIPO_RATE_LIMIT_PER_MINUTE: doc(
    positiveInt(120),
    'Requests per minute per API key on every other authenticated route.',
  ),
  MALIPO_INITIATION_WAIT_MS: doc(
    int(0, 60_000, 8000),
    "How long `POST /v1/payments/stk-push` waits for Daraja's acceptance before answering `pending` without a `checkoutRequestId`.",
  ),
  MALIPO_STK_DEADLINE_SECONDS: doc(
    int(30, 3600, 180),
    'A payment with no final answer this long after acceptance times out.',
  ),
  MALIPO_STK_GRACE_SECONDS: doc(
    int(0, 86_400, 1800),
    'A payment that did not succeed keeps listening this long for a late callback.',
  ),
  MALIPO_STK_CONFIRM_SUCCESS: doc(
    bool(true),
    'Confirm success callbacks by an STK query before believing them.',
    '`true`',
  ),
  MALIPO_STK_QUERY_FIRST_SECONDS: doc(
    int(5, 3600, 20),
    'Seconds after Daraja accepts a push before the first STK query of a payment with no callback yet; see [How often a pending payment asks Daraja](#how-often-a-pending-payment-asks-daraja).',
  ),
  MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS: doc(
    int(10, 3600, 60),
    'Cap on the interval between two STK queries of a pending payment, which grows ×1.5 from the first delay; at least `MALIPO_STK_QUERY_FIRST_SECONDS`.',
  ),
  MALIPO_DARAJA_TIMEOUT_MS: doc(
    int(1000, 50_000, 30_000),
    "Total time one Daraja request may take before the client gives up. A push that times out after it was sent is ambiguous and never sent again. Below the initiate activity's 60 s start-to-close.",
  ),
  MALIPO_LOOKUP_WAIT_MS: doc(
    int(1000, 120_000, 30_000),
    "How long `GET /v1/balance` and `POST /v1/transactions/status` wait for Daraja's Result before answering 504.",
  ),
  MALIPO_PUBLIC_RATE_LIMIT_PER_MINUTE: doc(
    positiveInt(20),
    'Payment submissions per minute per client IP on the public pay pages (page views and status polls: 10×).',
  ),
  MALIPO_TRUST_PROXY: doc(
    trustProxy,
    "Which proxies' `X-Forwarded-For` gives the client IP of the per-IP limits (express `trust proxy`): `false`, a hop count (1–10), or proxy addresses/CIDRs, comma-separated; see [Behind a proxy](#behind-a-proxy-malipo_trust_proxy).",
    '`false`',
  ),
  MALIPO_PAY_PROMPTS_PER_PHONE_PER_HOUR: doc(
    positiveInt(5),
    'STK prompts one phone may get through payment links per clock hour, across links.',
  ),
  MALIPO_PAY_PROMPTS_PER_LINK_PER_MINUTE: doc(
    positiveInt(30),
    'STK prompts one payment link may send per minute, whoever asks.',
  ),
  MALIPO_RATE_LIMIT_STORE: doc(
    z.enum(['auto', 'memory', 'postgres']).default('auto'),
    '`memory`, `postgres`, or `auto`: in memory for one process, PostgreSQL when `DATABASE_URL` is set (so several API processes share the counters).',
  ),
  MALIPO_WEBHOOK_SCHEDULE_SCALE: doc(
    z.coerce.number().positive().max(1).default(1),
    'Tests only: multiplies every wait of the webhook retry schedule (0.001 turns 5 s, 5 min, 30 min into 5 ms, 300 ms, 1.8 s); passed to each delivery workflow in its input. Refused in production mode unless 1.',
  ),
  MALIPO_RECONCILE_SCHEDULE_SCALE: doc(
    z.coerce.number().min(0.00001).max(1).default(1),
    'Tests only: multiplies every offset of the reconciliation schedule of a `needs_review` payment or payout (5 min, 15 min, 1 h, 6 h, then daily for 7 days; 0.0002 turns them into 60 ms … 121 s, 1 ms at least per offset); passed to each payment and payout workflow in its input. Refused in production mode unless 1.',
  ),
  MALIPO_WORKER_MAX_CACHED_WORKFLOWS: doc(
    optionalString.pipe(z.coerce.number<string>().int().min(1).optional()),
    'Workflows the worker keeps in its sticky cache (`maxCachedWorkflows`, a positive integer); bounds its memory, and an evicted workflow is replayed from its history on its next task. See [How much the worker keeps in memory](#how-much-the-worker-keeps-in-memory).',
    "the Temporal SDK's, from the V8 heap limit",
  ),
  MALIPO_DARAJA_ALLOWED_HOSTS: doc(
    optionalString.pipe(
      z
        .string()
        .optional()
        .transform((v) =>
          (v ?? '')
            .split(',')
            .map((h) => h.trim().toLowerCase().replace(/\.$/, ''))
            .filter((h) => h !== ''),
        )
        .pipe(
          z.array(
            z
              .string()
              .regex(
                /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$|^[0-9a-f:.]+$/,
                {
                  message: 'each entry must be a host name (no scheme, port or path)',
                },
              ),
          ),
        ),
    ),
    "Host names (comma-separated) besides Safaricom's own that `production` and `safaricom-sandbox` channels may name in their `baseUrl`, e.g. an egress proxy. They still pass the outbound SSRF guard; see [Channels](api/channels.md).",
  ),
  MALIPO_HOOK_RATE_LIMIT_PER_MINUTE: doc(
    positiveInt(30),
    'Requests per minute per client IP to `/hooks/daraja/…` that carry no valid token (429 beyond). A request with a valid token is never counted nor refused.',
  ),
  MALIPO_SIGNUP: doc(
    z.enum(['open', 'closed']).optional(),
    'Dashboard sign-up: `open` (anyone creates a merchant and its owner) or `closed` (people join through `malipo admin merchant invite`).',
    '`open` in development, `closed` in production',
  ),
  MALIPO_TEMPORAL_UI_URL: doc(
    optionalString.pipe(z.url().optional()),
    "The Temporal UI the dashboard links each payment's workflow to (namespace `TEMPORAL_NAMESPACE`); unset: no link.",
    '`http://127.0.0.1:$TEMPORAL_UI_PORT` in development, unset in production',
  ),
  MALIPO_PAYOUT_RESULT_WAIT_SECONDS: doc(
    int(5, 3600, 120),
    'Seconds a payout waits for its ResultURL/QueueTimeOutURL callback before asking Transaction Status.',
  ),
  MALIPO_PAYOUT_STATUS_WAIT_SECONDS: doc(
    int(5, 600, 60),
    'Seconds each Transaction Status request of a payout waits for its own Result.',
  ),
  MALIPO_PAYOUT_STATUS_RETRY_SECONDS: doc(
    int(1, 3600, 30),
    "Seconds between a payout's Transaction Status requests (doubling each time).",
  ),
  MALIPO_PAYOUT_GRACE_SECONDS: doc(
    int(0, 604_800, 86_400),
    'Seconds a `needs_review` payout keeps listening for a late Result that settles it.',
  ),
});

export type Env = z.infer<typeof EnvSchema>;

export interface Config extends Env {
  /** Absolute data directory. */
  dataDir: string;
  /** The base URL Daraja calls back. */
  publicUrl: string;
  isProduction: boolean;
  /** MALIPO_SIGNUP resolved against the mode. */
  signup: 'open' | 'closed';
  /** MALIPO_TEMPORAL_UI_URL resolved against the mode (no trailing slash); undefined: no links. */
  temporalUiUrl: string | undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses settings from an environment; throws ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const isProduction = e.MALIPO_MODE === 'production';
  if (isProduction) {
    if (!e.MALIPO_PUBLIC_URL) problems.push('MALIPO_PUBLIC_URL: required in production mode');
    if (!e.MALIPO_ENCRYPTION_KEY) problems.push('MALIPO_ENCRYPTION_KEY: required in production mode');
    if (e.MALIPO_TRUST_PROXY === true) {
      problems.push(
        'MALIPO_TRUST_PROXY: `true` believes any X-Forwarded-For, so any client could pick its IP; in production mode give the number of proxies in front of Malipo or their addresses',
      );
    }
    if (e.MALIPO_WEBHOOK_SCHEDULE_SCALE !== 1) {
      problems.push('MALIPO_WEBHOOK_SCHEDULE_SCALE: a test-only setting; must be 1 in production mode');
    }
    if (e.MALIPO_RECONCILE_SCHEDULE_SCALE !== 1) {
      problems.push('MALIPO_RECONCILE_SCHEDULE_SCALE: a test-only setting; must be 1 in production mode');
    }
  }
  if ((e.TEMPORAL_TLS_CERT_PATH === undefined) !== (e.TEMPORAL_TLS_KEY_PATH === undefined)) {
    problems.push('TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together');
  }
  if (e.MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS < e.MALIPO_STK_QUERY_FIRST_SECONDS) {
    problems.push(
      `MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS: must be at least MALIPO_STK_QUERY_FIRST_SECONDS (${e.MALIPO_STK_QUERY_FIRST_SECONDS}), got ${e.MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS}`,
    );
  }
  if (
    e.MALIPO_ENCRYPTION_KEY &&
    !/^[0-9a-fA-F]{64}$|^[A-Za-z0-9+/]{43}=$/.test(e.MALIPO_ENCRYPTION_KEY.reveal())
  ) {
    problems.push('MALIPO_ENCRYPTION_KEY: must be 32 bytes, as 64 hex characters or 44 base64 characters');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    ...e,
    dataDir: path.resolve(e.MALIPO_DATA_DIR),
    publicUrl: (e.MALIPO_PUBLIC_URL ?? `http://127.0.0.1:${e.PORT}`).replace(/\/+$/, ''),
    isProduction,
    signup: e.MALIPO_SIGNUP ?? (isProduction ? 'closed' : 'open'),
    temporalUiUrl: (
      e.MALIPO_TEMPORAL_UI_URL ?? (isProduction ? undefined : `http://127.0.0.1:${e.TEMPORAL_UI_PORT}`)
    )?.replace(/\/+$/, ''),
    // the sandbox is never mounted in production mode
    MALIPO_SANDBOX: isProduction ? false : e.MALIPO_SANDBOX,
  };
}

/** For entry points: parse or print every problem and exit non-zero. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`malipo: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
