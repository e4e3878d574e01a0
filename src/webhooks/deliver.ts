/**
 * One webhook HTTP attempt: POST the exact body bytes with the signed headers to a URL that passes
 * the SSRF guard, connecting to the very address the guard approved. Never throws for what the
 * receiver or the network did: every outcome is a DeliveryResult.
 *
 * Success is a 2xx status within the timeout (15 s). Redirects are not followed (a 3xx is a failure).
 * At most the first 1 KiB of the answer is read and kept.
 */
import http from 'node:http';
import https from 'node:https';
import { MalipoError } from '../domain/errors';
import { RETRY_AFTER_STATUSES } from '../domain/webhook-schedule';
import { parseRetryAfter } from './schedule';
import {
  type CheckedTarget,
  pinnedLookup,
  type Resolver,
  resolveWebhookTarget,
  type WebhookMode,
} from './ssrf';

export const DELIVERY_TIMEOUT_MS = 15_000;
export const RESPONSE_SNIPPET_BYTES = 1024;
export const WEBHOOK_USER_AGENT = 'Malipo-Webhooks/1';

export interface DeliveryRequest {
  url: string;
  /** The exact bytes to send. */
  body: string | Uint8Array;
  /** The signed headers (signing.ts); content-type and user-agent are added here. */
  headers: Record<string, string>;
  mode: WebhookMode;
  resolve?: Resolver;
  timeoutMs?: number;
}

export interface DeliveryResult {
  /** 2xx within the timeout. */
  ok: boolean;
  /** The answer's status, or null when none came (refused URL, DNS, connect error, timeout). */
  statusCode: number | null;
  latencyMs: number;
  /** What went wrong when there is no status, or a short note (e.g. "redirect not followed"). */
  error?: string;
  /** The first 1 KiB of the answer body, as UTF-8 text. */
  responseSnippet: string;
  /** Seconds from `Retry-After` on a 429 or 503. */
  retryAfterSeconds?: number;
  /** The SSRF guard refused the URL at this delivery; nothing was sent. */
  refused?: boolean;
}

export async function deliverOnce(req: DeliveryRequest): Promise<DeliveryResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let target: CheckedTarget;
  try {
    target = await resolveWebhookTarget(req.url, {
      mode: req.mode,
      ...(req.resolve ? { resolve: req.resolve } : {}),
    });
  } catch (err) {
    const message = err instanceof MalipoError ? err.message : `URL check failed: ${(err as Error).message}`;
    return {
      ok: false,
      statusCode: null,
      latencyMs: elapsed(),
      error: message,
      responseSnippet: '',
      refused: true,
    };
  }
  const body = typeof req.body === 'string' ? Buffer.from(req.body, 'utf8') : Buffer.from(req.body);
  const timeoutMs = req.timeoutMs ?? DELIVERY_TIMEOUT_MS;
  const transport = target.url.protocol === 'https:' ? https : http;

  return new Promise<DeliveryResult>((resolve) => {
    let settled = false;
    const finish = (r: Omit<DeliveryResult, 'latencyMs'>, latencyMs = elapsed()) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...r, latencyMs });
    };
    const request = transport.request(
      target.url,
      {
        method: 'POST',
        // a fresh connection per attempt: no pooled socket to an address checked earlier
        agent: false,
        lookup: pinnedLookup(target),
        headers: {
          ...req.headers,
          'content-type': 'application/json',
          'user-agent': WEBHOOK_USER_AGENT,
          'content-length': String(body.length),
        },
      },
      (res) => {
        const statusCode = res.statusCode ?? 0;
        const latencyMs = elapsed();
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () => {
          const snippet = Buffer.concat(chunks).subarray(0, RESPONSE_SNIPPET_BYTES).toString('utf8');
          const retryAfter =
            RETRY_AFTER_STATUSES.includes(statusCode) && typeof res.headers['retry-after'] === 'string'
              ? parseRetryAfter(res.headers['retry-after'])
              : undefined;
          const ok = statusCode >= 200 && statusCode < 300;
          finish(
            {
              ok,
              statusCode,
              responseSnippet: snippet,
              ...(statusCode >= 300 && statusCode < 400 ? { error: 'redirect not followed' } : {}),
              ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}),
            },
            latencyMs,
          );
          res.destroy();
        };
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          if (size >= RESPONSE_SNIPPET_BYTES) done();
        });
        res.on('end', done);
        res.on('error', done);
        res.on('aborted', done);
      },
    );
    const timer = setTimeout(() => {
      request.destroy(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    request.on('error', (err: NodeJS.ErrnoException) => {
      finish({
        ok: false,
        statusCode: null,
        error: err.code && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message,
        responseSnippet: '',
      });
    });
    request.end(body);
  });
}
