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
const port = (def: number) => z.coerce.number().int().min(0).max(65535).default(def);
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

const EnvSchema = z.object({
  PORT: port(3000),
  HOST: z.string().default('127.0.0.1'),
  MALIPO_MODE: z.enum(['development', 'production']).default('development'),
  MALIPO_DATA_DIR: z.string().default('.data'),
  MALIPO_PUBLIC_URL: optionalString.pipe(z.url().optional()),
  MALIPO_ENCRYPTION_KEY: secret,
  MALIPO_CALLBACK_SECRET: secret,
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('malipo'),
  TEMPORAL_TLS_CERT_PATH: optionalString,
  TEMPORAL_TLS_KEY_PATH: optionalString,
  TEMPORAL_TLS_CA_PATH: optionalString,
  TEMPORAL_TLS_SERVER_NAME: optionalString,
  TEMPORAL_API_KEY: secret,
  TEMPORAL_PORT: port(7233),
  TEMPORAL_UI_PORT: port(8233),
  DATABASE_URL: secret,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MALIPO_SANDBOX: bool(true),
  /** Requests per minute per API key on payment and payout creation routes. */
  MALIPO_RATE_LIMIT_CREATE_PER_MINUTE: z.coerce.number().int().min(1).default(60),
  /** Requests per minute per API key on every other authenticated route. */
  MALIPO_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(120),
  /** How long POST /v1/payments/stk-push waits for Daraja's acceptance before answering `pending`. */
  MALIPO_INITIATION_WAIT_MS: z.coerce.number().int().min(0).max(60_000).default(8000),
  /** Seconds after acceptance before a silent STK payment times out. */
  MALIPO_STK_DEADLINE_SECONDS: z.coerce.number().int().min(30).max(3600).default(180),
  /** Seconds a payment that did not succeed keeps listening for a late callback. */
  MALIPO_STK_GRACE_SECONDS: z.coerce.number().int().min(0).max(86_400).default(1800),
  /** Confirm success callbacks by an STK query before believing them. */
  MALIPO_STK_CONFIRM_SUCCESS: bool(true),
  /** Seconds after acceptance before a silent STK payment's first STK query. */
  MALIPO_STK_QUERY_FIRST_SECONDS: z.coerce.number().int().min(5).max(3600).default(20),
  /**
   * Cap in seconds on the interval between two STK queries of a pending payment (the interval grows
   * ×1.5 from the first delay). At least MALIPO_STK_QUERY_FIRST_SECONDS.
   */
  MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS: z.coerce.number().int().min(10).max(3600).default(60),
  /**
   * Total time one Daraja request may take before the client gives up. A push that times out after
   * it was sent is ambiguous (never pushed again). Below the initiate activity's 60 s start-to-close.
   */
  MALIPO_DARAJA_TIMEOUT_MS: z.coerce.number().int().min(1000).max(50_000).default(30_000),
  /** How long GET /v1/balance and POST /v1/transactions/status wait for Daraja's Result before a 504. */
  MALIPO_LOOKUP_WAIT_MS: z.coerce.number().int().min(1000).max(120_000).default(30_000),
  /** Payment submissions per minute per client IP on the public pay pages (page views and status polls: 10×). */
  MALIPO_PUBLIC_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(20),
  /**
   * Which proxies' X-Forwarded-For to believe for the client IP of the per-IP limits (express `trust proxy`).
   * Off by default: believed blindly, a forged header would put each request in a fresh bucket.
   */
  MALIPO_TRUST_PROXY: trustProxy,
  /** STK prompts one phone may get per hour through payment links, across links. */
  MALIPO_PAY_PROMPTS_PER_PHONE_PER_HOUR: z.coerce.number().int().min(1).default(5),
  /** STK prompts one payment link may send per minute, whoever asks. */
  MALIPO_PAY_PROMPTS_PER_LINK_PER_MINUTE: z.coerce.number().int().min(1).default(30),
  /** `auto`: in memory for one process, PostgreSQL when DATABASE_URL is set (several API processes share it). */
  MALIPO_RATE_LIMIT_STORE: z.enum(['auto', 'memory', 'postgres']).default('auto'),
  /**
   * Test-only: multiplies every wait of the webhook retry schedule (0.001 turns 5 s, 5 min, 30 min
   * into 5 ms, 300 ms, 1.8 s). Passed to each delivery workflow in its input. Must be 1 in production mode.
   */
  MALIPO_WEBHOOK_SCHEDULE_SCALE: z.coerce.number().positive().max(1).default(1),
  /**
   * Test-only: multiplies every offset of the reconciliation schedule of a `needs_review` payment or
   * payout (5 min, 15 min, 1 h, 6 h, then daily for 7 days; 0.0002 turns them into 60 ms … 121 s). Passed
   * to each payment and payout workflow in its input; 1 ms at least per offset. Must be 1 in production mode.
   */
  MALIPO_RECONCILE_SCHEDULE_SCALE: z.coerce.number().min(0.00001).max(1).default(1),
  /**
   * Workflows the worker keeps in its sticky cache (`maxCachedWorkflows`). Unset: the Temporal SDK's
   * default, sized from the V8 heap limit. Bounds the worker's memory; an evicted workflow is replayed
   * from its history on its next task.
   */
  MALIPO_WORKER_MAX_CACHED_WORKFLOWS: optionalString.pipe(z.coerce.number<string>().int().min(1).optional()),
  /**
   * Hosts beyond Safaricom's own that production and safaricom-sandbox channels may name as their base
   * URL (comma-separated host names, e.g. an egress proxy). They still pass the outbound SSRF guard.
   */
  MALIPO_DARAJA_ALLOWED_HOSTS: optionalString.pipe(
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
  /**
   * Requests per minute per client IP to /hooks/daraja/… that carry no valid token (429 beyond). A
   * request with a valid token is never counted nor refused.
   */
  MALIPO_HOOK_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(30),
  /** Dashboard sign-up: `open` (anyone creates a merchant) or `closed` (operator invites). Default: open in development, closed in production. */
  MALIPO_SIGNUP: z.enum(['open', 'closed']).optional(),
  /** The Temporal UI the dashboard links payments to. Default in development: the embedded UI on TEMPORAL_UI_PORT. */
  MALIPO_TEMPORAL_UI_URL: optionalString.pipe(z.url().optional()),
  /** Seconds a payout waits for its ResultURL/QueueTimeOutURL callback before asking Transaction Status. */
  MALIPO_PAYOUT_RESULT_WAIT_SECONDS: z.coerce.number().int().min(5).max(3600).default(120),
  /** Seconds each Transaction Status request of a payout waits for its own Result. */
  MALIPO_PAYOUT_STATUS_WAIT_SECONDS: z.coerce.number().int().min(5).max(600).default(60),
  /** Seconds between a payout's Transaction Status requests (doubling each time). */
  MALIPO_PAYOUT_STATUS_RETRY_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
  /** Seconds a `needs_review` payout keeps listening for a late Result that settles it. */
  MALIPO_PAYOUT_GRACE_SECONDS: z.coerce.number().int().min(0).max(604_800).default(86_400),
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
