/**
 * HTTP transport for the Daraja client. The default is built on node:http(s) so it can tell
 * "never connected" (safe to retry) from "sent, then lost" (ambiguous) and enforce a separate
 * connect timeout. An injected `fetch` also works; then a connect timeout cannot be observed and
 * errors are classified from their codes.
 *
 * With a `guard`, every request first passes the outbound SSRF guard (src/webhooks/ssrf.ts) and the
 * connection is pinned to the address the guard approved, so a channel's base URL cannot be turned
 * to a private or metadata address by DNS after it was saved. A refusal is the guard's
 * VALIDATION_ERROR (nothing was sent); a name that does not resolve is a not-sent TransportError.
 */
import http from 'node:http';
import https from 'node:https';
import {
  CHANNEL_BASE_URL_TARGET,
  type CheckedTarget,
  isUnresolvedRefusal,
  pinnedLookup,
  type Resolver,
  resolveWebhookTarget,
  type WebhookMode,
} from '../webhooks/ssrf';

export interface TransportRequest {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string | undefined;
}
export interface TransportResponse {
  status: number;
  text: string;
}
export interface TransportTimeouts {
  /** Time allowed to open the TCP (and TLS) connection. */
  connectTimeoutMs: number;
  /** Time allowed for the whole exchange, connect included. */
  timeoutMs: number;
}

/** A transport failure; `sent` says whether the request may have reached the server. */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly sent: boolean,
    readonly code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransportError';
  }
}

export type Transport = (req: TransportRequest) => Promise<TransportResponse>;

/** The outbound guard's settings: `production` refuses http, loopback and private addresses. */
export interface OutboundGuard {
  mode: WebhookMode;
  /** DNS; injected in tests, the system resolver otherwise. */
  resolve?: Resolver | undefined;
}

/**
 * Guarded connections get their own keep-alive pools: every socket in them was opened to an address
 * the guard approved, so a reused socket never reaches an address that was not checked.
 */
const GUARDED_AGENTS = {
  http: new http.Agent({ keepAlive: true }),
  https: new https.Agent({ keepAlive: true }),
};

/** Runs the guard on a request URL: the approved address, or a refusal / a not-sent DNS failure. */
async function guardTarget(url: string, guard: OutboundGuard): Promise<CheckedTarget> {
  try {
    return await resolveWebhookTarget(url, {
      mode: guard.mode,
      resolve: guard.resolve,
      // the request URL carries the endpoint's query (OAuth); the base URL's shape was checked on save
      target: { ...CHANNEL_BASE_URL_TARGET, allowQueryAndFragment: true },
    });
  } catch (err) {
    if (isUnresolvedRefusal(err)) {
      throw new TransportError('the host does not resolve', false, 'ENOTFOUND', { cause: err });
    }
    throw err;
  }
}

const MAX_BODY = 1024 * 1024;

/** Error codes that prove the request never left (name resolution, refused, unreachable, connect timeout, TLS). */
const NOT_SENT_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The default transport: node:http(s) with a connect timeout and a total timeout. */
export function nodeTransport(timeouts: TransportTimeouts, guard?: OutboundGuard): Transport {
  const send = sendOverNode(timeouts);
  if (!guard) return (req) => send(req, undefined);
  return async (req) => send(req, await guardTarget(req.url, guard));
}

function sendOverNode(timeouts: TransportTimeouts) {
  return (req: TransportRequest, pinned: CheckedTarget | undefined) =>
    new Promise<TransportResponse>((resolve, reject) => {
      const url = new URL(req.url);
      const isHttps = url.protocol === 'https:';
      const mod = isHttps ? https : http;
      let connected = false;
      let settled = false;
      let connectTimer: NodeJS.Timeout | undefined;
      const fail = (message: string, code: string | undefined, cause?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(totalTimer);
        clearTimeout(connectTimer);
        const sent = connected && !(code !== undefined && NOT_SENT_CODES.has(code));
        reject(new TransportError(message, sent, code, { cause }));
      };
      const r = mod.request(url, {
        method: req.method,
        headers: req.headers,
        ...(pinned
          ? { lookup: pinnedLookup(pinned), agent: isHttps ? GUARDED_AGENTS.https : GUARDED_AGENTS.http }
          : {}),
      });
      const totalTimer = setTimeout(() => {
        fail(`no answer within ${timeouts.timeoutMs} ms`, connected ? 'TIMEOUT' : 'CONNECT_TIMEOUT');
        r.destroy();
      }, timeouts.timeoutMs);
      r.on('socket', (socket) => {
        const isTls = url.protocol === 'https:';
        if (!socket.connecting && (!isTls || (socket as { encrypted?: boolean }).encrypted)) {
          connected = true; // a reused keep-alive socket
          return;
        }
        connectTimer = setTimeout(() => {
          fail(`could not connect within ${timeouts.connectTimeoutMs} ms`, 'CONNECT_TIMEOUT');
          r.destroy();
        }, timeouts.connectTimeoutMs);
        socket.once(isTls ? 'secureConnect' : 'connect', () => {
          connected = true;
          clearTimeout(connectTimer);
        });
      });
      r.on('error', (err) => fail(`request failed: ${err.message}`, errorCode(err), err));
      r.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= MAX_BODY) chunks.push(c);
        });
        res.on('error', (err) => fail(`response failed: ${err.message}`, errorCode(err), err));
        res.on('aborted', () => fail('response aborted', 'ECONNRESET'));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(totalTimer);
          clearTimeout(connectTimer);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
      });
      if (req.body !== undefined) r.end(req.body);
      else r.end();
    });
}

/**
 * A transport over an injected `fetch`. Only the total timeout is enforced. A guard checks each URL
 * but cannot pin the address (fetch resolves again): injected fetches are for tests.
 */
export function fetchTransport(
  fetchImpl: typeof fetch,
  timeouts: TransportTimeouts,
  guard?: OutboundGuard,
): Transport {
  return async (req) => {
    if (guard) await guardTarget(req.url, guard);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeouts.timeoutMs);
    try {
      const res = await fetchImpl(req.url, {
        method: req.method,
        headers: req.headers,
        ...(req.body !== undefined ? { body: req.body } : {}),
        signal: ac.signal,
      });
      const text = await res.text();
      return { status: res.status, text };
    } catch (err) {
      const code = errorCode(err);
      if (ac.signal.aborted)
        throw new TransportError(`no answer within ${timeouts.timeoutMs} ms`, true, 'TIMEOUT');
      const sent = !(code !== undefined && NOT_SENT_CODES.has(code));
      throw new TransportError(`request failed: ${(err as Error)?.message ?? String(err)}`, sent, code, {
        cause: err,
      });
    } finally {
      clearTimeout(timer);
    }
  };
}
