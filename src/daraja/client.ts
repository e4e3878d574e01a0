/**
 * The Daraja transport: base URL per channel, OAuth token cache, timeouts, error classification.
 * Pure payload mapping lives in transformers.ts; this file only sends and receives (CONVENTIONS 4).
 */
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { MalipoError } from '../domain/errors';
import { cleanField, DarajaError, errorFromResponse, isInvalidTokenAnswer } from './errors';
import {
  type AccountBalanceInput,
  type AsyncAck,
  AsyncAckSchema,
  type B2cInput,
  buildAccountBalancePayload,
  buildB2cPayload,
  buildC2bRegisterPayload,
  buildQrPayload,
  buildReversalPayload,
  buildStkPushPayload,
  buildStkQueryPayload,
  buildTransactionStatusPayload,
  type C2bRegisterAck,
  type C2bRegisterInput,
  C2bRegisterResponseSchema,
  type OAuthToken,
  parseOAuthResponse,
  type QrInput,
  QrResponseSchema,
  type QrResult,
  type ReversalRequestInput,
  type StkPushAck,
  type StkPushInput,
  StkPushResponseSchema,
  type StkQueryInput,
  StkQueryResponseSchema,
  type StkQueryResult,
  type TransactionStatusInput,
  toAsyncAck,
  toC2bRegisterAck,
  toQrResult,
  toStkPushAck,
  toStkQueryResult,
} from './transformers';
import {
  fetchTransport,
  nodeTransport,
  type OutboundGuard,
  type Transport,
  TransportError,
} from './transport';

export type DarajaEnvironment = 'sandbox' | 'production';

export const DARAJA_BASE_URLS: Readonly<Record<DarajaEnvironment, string>> = {
  sandbox: 'https://sandbox.safaricom.co.ke',
  production: 'https://api.safaricom.co.ke',
};

export const DARAJA_PATHS = {
  oauth: '/oauth/v1/generate',
  stkPush: '/mpesa/stkpush/v1/processrequest',
  stkQuery: '/mpesa/stkpushquery/v1/query',
  b2c: '/mpesa/b2c/v3/paymentrequest',
  transactionStatus: '/mpesa/transactionstatus/v1/query',
  reversal: '/mpesa/reversal/v1/request',
  accountBalance: '/mpesa/accountbalance/v1/query',
  c2bRegister: '/mpesa/c2b/v2/registerurl',
  qr: '/mpesa/qrcode/v1/generate',
} as const;

/** Refresh this long before expiry, so a token never dies between cache read and Daraja's check. */
export const DEFAULT_REFRESH_MARGIN_MS = 60_000;
/** Connecting to Apigee takes well under a second; 5 s means the network is broken. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/**
 * STK push usually answers in 1-3 s but has been seen to take over 10 s; past 30 s the outcome is
 * treated as ambiguous (the workflow then waits for the callback instead of pushing again).
 */
export const DEFAULT_TIMEOUT_MS = 30_000;

interface CachedToken {
  token: string;
  expiresAt: number;
}

/**
 * The cache key of an app's token: base URL, consumer key and a SHA-256 of the consumer secret. Two
 * channels that share a base URL and consumer key but not the secret never share a token (else one
 * channel's token would be handed to a caller that never proved the secret); the secret itself never
 * sits in a key.
 */
export function tokenCacheKey(baseUrl: string, consumerKey: string, consumerSecret: string): string {
  const secretHash = createHash('sha256').update(consumerSecret, 'utf8').digest('hex');
  return `${baseUrl}\n${consumerKey}\n${secretHash}`;
}

/**
 * Tokens per (base URL, consumer key, consumer secret hash: tokenCacheKey), with single-flight refresh:
 * many concurrent callers on an expired token cause one OAuth request (Daraja's FAQ says a new token
 * may invalidate the previous one). Share one cache between clients of the same process; it holds no
 * other state.
 */
export class TokenCache {
  readonly #tokens = new Map<string, CachedToken>();
  readonly #inflight = new Map<string, Promise<CachedToken>>();

  /** Returns a valid cached token or obtains one through `fetchToken`, at most one fetch per key at a time. */
  async get(
    key: string,
    now: number,
    marginMs: number,
    fetchToken: () => Promise<CachedToken>,
    rejectedToken?: string,
  ): Promise<string> {
    const cached = this.#tokens.get(key);
    if (cached && cached.token !== rejectedToken && now < cached.expiresAt - marginMs) return cached.token;
    let flight = this.#inflight.get(key);
    if (!flight) {
      flight = fetchToken().then(
        (t) => {
          this.#tokens.set(key, t);
          this.#inflight.delete(key);
          return t;
        },
        (err: unknown) => {
          this.#inflight.delete(key);
          throw err;
        },
      );
      this.#inflight.set(key, flight);
    }
    return (await flight).token;
  }

  /** The keys that hold a token (diagnostics and tests). */
  keys(): string[] {
    return [...this.#tokens.keys()];
  }

  /** Forgets a key's token (tests, credential rotation). */
  clear(key?: string): void {
    if (key === undefined) this.#tokens.clear();
    else this.#tokens.delete(key);
  }
}

export interface DarajaClientOptions {
  /** Which Safaricom host; ignored when `baseUrl` is given. */
  environment?: DarajaEnvironment | undefined;
  /** Any other base URL, e.g. the simulator `http://127.0.0.1:4010` (no trailing slash needed). */
  baseUrl?: string | undefined;
  consumerKey: string;
  consumerSecret: string;
  /** Injected fetch; without it a node:http transport is used (it can enforce the connect timeout). */
  fetch?: typeof fetch | undefined;
  /** Injected clock (ms since epoch), for token expiry and Timestamps. */
  now?: (() => number) | undefined;
  connectTimeoutMs?: number | undefined;
  timeoutMs?: number | undefined;
  tokenCache?: TokenCache | undefined;
  refreshMarginMs?: number | undefined;
  /**
   * The outbound SSRF guard, run before every request with the connection pinned to the approved
   * address. Channel clients always set it (src/platform/channels.ts channelDarajaClient).
   */
  guard?: OutboundGuard | undefined;
}

/** A refusal by our own outbound guard: nothing was sent, and it is not Daraja's answer. */
const isOwnRefusal = (err: unknown): err is MalipoError =>
  err instanceof MalipoError && !(err instanceof DarajaError);

/** Our own words for a transport failure (the transport's message, e.g. a connect error, goes to `detail`). */
function transportFailure(err: unknown, sent: boolean): string {
  const code = err instanceof TransportError ? err.code : undefined;
  if (code === 'TIMEOUT' || code === 'CONNECT_TIMEOUT')
    return err instanceof Error ? err.message : 'timed out';
  return sent ? 'the connection failed after the request was sent' : 'Daraja could not be reached';
}

/** A Daraja client for one app (consumer key/secret) on one host. */
export class DarajaClient {
  readonly baseUrl: string;
  readonly #key: string;
  readonly #secret: string;
  readonly #cacheKey: string;
  readonly #transport: Transport;
  readonly #now: () => number;
  readonly #cache: TokenCache;
  readonly #margin: number;

  constructor(opts: DarajaClientOptions) {
    const base = opts.baseUrl ?? DARAJA_BASE_URLS[opts.environment ?? 'sandbox'];
    this.baseUrl = base.replace(/\/+$/, '');
    this.#key = opts.consumerKey;
    this.#secret = opts.consumerSecret;
    const timeouts = {
      connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    };
    this.#cacheKey = tokenCacheKey(this.baseUrl, this.#key, this.#secret);
    this.#transport = opts.fetch
      ? fetchTransport(opts.fetch, timeouts, opts.guard)
      : nodeTransport(timeouts, opts.guard);
    this.#now = opts.now ?? Date.now;
    this.#cache = opts.tokenCache ?? new TokenCache();
    this.#margin = opts.refreshMarginMs ?? DEFAULT_REFRESH_MARGIN_MS;
  }

  /** A valid access token (cached, refreshed ~60 s before expiry). Failures are `not_sent` or `rejected`. */
  getToken(): Promise<string> {
    return this.#cache.get(this.#cacheKey, this.#now(), this.#margin, () => this.#fetchToken());
  }

  async #fetchToken(): Promise<CachedToken> {
    const endpoint = DARAJA_PATHS.oauth;
    const basic = Buffer.from(`${this.#key}:${this.#secret}`, 'utf8').toString('base64');
    let res: { status: number; text: string };
    try {
      res = await this.#transport({
        url: `${this.baseUrl}${endpoint}?grant_type=client_credentials`,
        method: 'GET',
        headers: { Authorization: `Basic ${basic}`, Accept: 'application/json' },
      });
    } catch (err) {
      if (isOwnRefusal(err)) throw err;
      // Whatever happened to the token request, the real request was never sent.
      throw new DarajaError({
        kind: 'not_sent',
        message: `could not get a Daraja token: ${transportFailure(err, false)}`,
        detail: err instanceof Error ? err.message : String(err),
        endpoint,
        cause: err,
      });
    }
    if (res.status < 200 || res.status > 299) {
      const e = errorFromResponse(endpoint, res.status, res.text);
      // A token failure is a refusal of the token, never of the payment: nothing was sent.
      throw new DarajaError({
        kind: 'rejected',
        message: e.message,
        endpoint,
        httpStatus: e.httpStatus,
        errorCode: e.errorCode,
        errorMessage: e.errorMessage,
        requestId: e.requestId,
        rawBody: e.rawBody,
        transient: e.transient || res.status >= 500,
      });
    }
    let token: OAuthToken | undefined;
    try {
      token = parseOAuthResponse(JSON.parse(res.text));
    } catch {
      token = undefined;
    }
    if (!token) {
      throw new DarajaError({
        kind: 'rejected',
        message: 'Daraja OAuth answered without an access_token',
        endpoint,
        httpStatus: res.status,
        rawBody: res.text.slice(0, 4000),
        transient: true,
      });
    }
    return { token: token.accessToken, expiresAt: this.#now() + token.expiresInSeconds * 1000 };
  }

  async #post(endpoint: string, body: unknown, token: string): Promise<{ status: number; text: string }> {
    try {
      return await this.#transport({
        url: `${this.baseUrl}${endpoint}`,
        method: 'POST',
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json',
          Accept: 'application/json',
        },
        body: JSON.stringify(body),
      });
    } catch (err) {
      if (isOwnRefusal(err)) throw err;
      const sent = err instanceof TransportError ? err.sent : true;
      throw new DarajaError({
        kind: sent ? 'ambiguous' : 'not_sent',
        message: `Daraja ${endpoint}: ${transportFailure(err, sent)}`,
        detail: err instanceof Error ? err.message : String(err),
        endpoint,
        cause: err,
      });
    }
  }

  /**
   * POSTs a body with a Bearer token. On an invalid-token answer (404.001.03, 400.003.01, 401.002.01,
   * HTTP 401) the token is refreshed once and the request retried once: the gateway rejects those
   * before M-Pesa sees the request, so the retry cannot double a payment (daraja.md §11).
   */
  async request<S extends z.ZodType>(endpoint: string, body: unknown, schema: S): Promise<z.output<S>> {
    let token = await this.getToken();
    let res = await this.#post(endpoint, body, token);
    if (res.status < 200 || res.status > 299) {
      const err = errorFromResponse(endpoint, res.status, res.text);
      if (isInvalidTokenAnswer(res.status, err.errorCode)) {
        token = await this.#cache.get(
          this.#cacheKey,
          this.#now(),
          this.#margin,
          () => this.#fetchToken(),
          token,
        );
        res = await this.#post(endpoint, body, token);
      }
    }
    if (res.status < 200 || res.status > 299) throw errorFromResponse(endpoint, res.status, res.text);
    let json: unknown;
    try {
      json = JSON.parse(res.text);
    } catch {
      json = undefined;
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      // A 2xx we cannot read: Daraja may well have acted on it.
      throw new DarajaError({
        kind: 'ambiguous',
        message: `Daraja ${endpoint} answered HTTP ${res.status} with an unreadable body`,
        endpoint,
        httpStatus: res.status,
        rawBody: res.text.slice(0, 4000),
      });
    }
    return parsed.data;
  }

  /** A non-"0" ResponseCode on a 2xx is a refusal. */
  #requireAccepted(endpoint: string, code: string, description: string, raw: unknown): void {
    if (code === '0') return;
    const c = cleanField(code) ?? '';
    const d = cleanField(description) ?? '';
    throw new DarajaError({
      kind: 'rejected',
      message: `Daraja ${endpoint} answered ResponseCode ${c} ${d}`.trim(),
      endpoint,
      httpStatus: 200,
      errorCode: c,
      errorMessage: d,
      rawBody: JSON.stringify(raw).slice(0, 4000),
    });
  }

  /** Sends an STK push (paybill or till). Resolves on Daraja's acknowledgement, not on payment. */
  async stkPush(input: StkPushInput): Promise<StkPushAck> {
    const body = buildStkPushPayload(input, new Date(this.#now()));
    const r = await this.request(DARAJA_PATHS.stkPush, body, StkPushResponseSchema);
    this.#requireAccepted(DARAJA_PATHS.stkPush, r.ResponseCode, r.ResponseDescription, r);
    return toStkPushAck(r);
  }

  /** Queries an STK push. "The transaction is being processed" is `pending`, never a failure. */
  async stkQuery(input: StkQueryInput): Promise<StkQueryResult> {
    const body = buildStkQueryPayload(input, new Date(this.#now()));
    try {
      const r = await this.request(DARAJA_PATHS.stkQuery, body, StkQueryResponseSchema);
      return toStkQueryResult(r);
    } catch (err) {
      if (err instanceof DarajaError && err.isPending) return { status: 'pending', requestId: err.requestId };
      throw err;
    }
  }

  async #asyncCall(endpoint: string, body: unknown): Promise<AsyncAck> {
    const r = await this.request(endpoint, body, AsyncAckSchema);
    this.#requireAccepted(endpoint, r.ResponseCode, r.ResponseDescription, r);
    return toAsyncAck(r);
  }

  /** B2C v3 payout; the outcome arrives as a `Result` at `resultUrl`. */
  b2cPayment(input: B2cInput): Promise<AsyncAck> {
    return this.#asyncCall(DARAJA_PATHS.b2c, buildB2cPayload(input));
  }

  transactionStatus(input: TransactionStatusInput): Promise<AsyncAck> {
    return this.#asyncCall(DARAJA_PATHS.transactionStatus, buildTransactionStatusPayload(input));
  }

  /** Reverses (part of) a transaction; the outcome arrives as a `Result` at `resultUrl`. */
  reversal(input: ReversalRequestInput): Promise<AsyncAck> {
    return this.#asyncCall(DARAJA_PATHS.reversal, buildReversalPayload(input));
  }

  accountBalance(input: AccountBalanceInput): Promise<AsyncAck> {
    return this.#asyncCall(DARAJA_PATHS.accountBalance, buildAccountBalancePayload(input));
  }

  async registerC2bUrls(input: C2bRegisterInput): Promise<C2bRegisterAck> {
    const r = await this.request(
      DARAJA_PATHS.c2bRegister,
      buildC2bRegisterPayload(input),
      C2bRegisterResponseSchema,
    );
    const ack = toC2bRegisterAck(r);
    this.#requireAccepted(DARAJA_PATHS.c2bRegister, ack.responseCode, ack.responseDescription, r);
    return ack;
  }

  /**
   * Dynamic QR. The success ResponseCode is unsure (`"00"` per one SDK, daraja.md §8.6): a body that
   * carries a QRCode is taken as success whatever its code.
   */
  async generateQr(input: QrInput): Promise<QrResult> {
    const r = await this.request(DARAJA_PATHS.qr, buildQrPayload(input), QrResponseSchema);
    return toQrResult(r);
  }
}

export function createDarajaClient(opts: DarajaClientOptions): DarajaClient {
  return new DarajaClient(opts);
}
