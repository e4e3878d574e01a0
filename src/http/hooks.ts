/**
 * What the Daraja hook routes share: the acknowledgement Daraja expects, the token check that turns a
 * wrong token into the same 404 an unknown route gets (and a log line, never the token), and the hooks'
 * rate limit, which never refuses a request that carries a valid token.
 */
import type { Request, RequestHandler } from 'express';
import { z } from 'zod';
import { channelIdFromSegment, verifyC2bToken } from '../c2b/urls';
import { type AsyncResult, parseAsyncResult } from '../daraja/callbacks';
import { MalipoError } from '../domain/errors';
import { type CallbackPurpose, verifyCallbackToken } from '../payments/callback-token';
import { type PaymentRepository, withoutNul } from '../payments/repository';
import { ipRateLimit, type RateLimitStore } from './middleware/rate-limit';

/** Daraja's "received" answer: sent once the token is valid, whatever the body held. */
export const DARAJA_ACK = { ResultCode: 0, ResultDesc: 'Accepted' } as const;

export const darajaAckResponses = {
  200: {
    description: 'Always acknowledged once the token is valid',
    schema: z.object({ ResultCode: z.literal(0), ResultDesc: z.string() }),
  },
};

export function assertHookToken(
  req: Request,
  secret: string,
  purpose: CallbackPurpose,
  id: string,
  token: string,
): void {
  if (verifyCallbackToken(secret, purpose, id, token)) return;
  req.log?.warn({ purpose, id }, 'Daraja hook with a wrong token refused');
  throw new MalipoError('RESOURCE_NOT_FOUND', `No route for POST ${req.path.replace(token, '…')}`);
}

/** A Result on an asynchronous Daraja hook (B2C, Reversal, their Transaction Status), parsed. */
export interface AsyncHookResult {
  /** The body without NUL characters, as kept with the signal. */
  clean: unknown;
  result: AsyncResult;
  /** The fields every kind of signal carries. */
  common: { resultCode: string; resultDesc: string; conversationId?: string };
}

/**
 * What the asynchronous Result hooks do first: check the token, scrub NULs and parse tolerantly. An
 * unparseable body is kept in the callback inbox (`<purpose>_<kind>`) with a log line and answers
 * undefined, so the route still acknowledges Daraja.
 */
export async function readAsyncResultHook(
  req: Request,
  deps: { callbackSecret: string; payments: { repo: Pick<PaymentRepository, 'toInbox'> } },
  hook: { purpose: 'b2c' | 'reversal'; idKey: string; id: string; token: string; kind: string },
  body: unknown,
): Promise<AsyncHookResult | undefined> {
  assertHookToken(req, deps.callbackSecret, hook.purpose, hook.id, hook.token);
  const clean = withoutNul(body);
  const parsed = parseAsyncResult(clean);
  if (!parsed.ok) {
    await deps.payments.repo.toInbox(
      `${hook.purpose}_${hook.kind}`,
      hook.id,
      clean,
      `unparseable: ${parsed.error}`,
    );
    req.log?.warn(
      { [hook.idKey]: hook.id, kind: hook.kind },
      `unparseable ${hook.purpose} callback kept in the inbox`,
    );
    return undefined;
  }
  const r = parsed.value;
  return {
    clean,
    result: r,
    common: {
      resultCode: r.resultCode,
      resultDesc: r.resultDesc,
      ...(r.conversationId ? { conversationId: r.conversationId } : {}),
    },
  };
}

/**
 * The hook a path names when its token is valid: `{ purpose, id }` (the payment, payout, lookup or
 * channel the token was minted for), else undefined. `path` is relative to `/hooks/daraja`. Only an
 * HMAC is computed: no database, no body.
 */
export function validHookOf(
  secret: string,
  path: string,
): { purpose: CallbackPurpose; id: string } | undefined {
  const [, kind, id, token, ...rest] = path.split('/');
  if (kind === undefined || id === undefined || token === undefined || rest.length > 1) return undefined;
  switch (kind) {
    case 'stk':
    case 'lookup':
      return rest.length === 0 && verifyCallbackToken(secret, kind, id, token)
        ? { purpose: kind, id }
        : undefined;
    case 'b2c':
      return rest.length === 1 && verifyCallbackToken(secret, 'b2c', id, token)
        ? { purpose: 'b2c', id }
        : undefined;
    case 'reversal':
      return rest.length === 1 && verifyCallbackToken(secret, 'reversal', id, token)
        ? { purpose: 'reversal', id }
        : undefined;
    case 'c2b': {
      const channelId = channelIdFromSegment(id);
      return rest.length === 1 && channelId !== undefined && verifyC2bToken(secret, channelId, token)
        ? { purpose: 'c2b', id: channelId }
        : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * Requests without a valid token (scanners, guessed tokens, forged callbacks) get a small budget per
 * address (the app takes it from MALIPO_HOOK_RATE_LIMIT_PER_MINUTE).
 */
export const HOOK_INVALID_PER_MINUTE = 30;

export interface HookRateLimitOptions {
  store: RateLimitStore;
  callbackSecret: string;
  /** Requests per window per client IP without a valid token. */
  invalidPerMinute?: number | undefined;
  windowMs?: number | undefined;
  now?: (() => number) | undefined;
}

/**
 * The rate limit of `/hooks/daraja/…` (mount it there, before body parsing). A request whose path
 * carries a valid token is never counted nor refused: Daraja's callbacks and its retries always get
 * through, even from an address that is being flooded (a shared proxy, Daraja's own egress), and a busy
 * paybill's confirmations all share one channel token. Any other request counts against its client
 * IP's small budget and is refused with 429 once it is spent, before its body is read or the route runs.
 */
export function hookRateLimit(opts: HookRateLimitOptions): RequestHandler {
  const invalid = ipRateLimit({
    store: opts.store,
    limit: opts.invalidPerMinute ?? HOOK_INVALID_PER_MINUTE,
    bucket: 'hooks.invalid',
    ...(opts.windowMs !== undefined ? { windowMs: opts.windowMs } : {}),
    ...(opts.now !== undefined ? { now: opts.now } : {}),
  });
  return (req, res, next) => {
    if (validHookOf(opts.callbackSecret, req.path)) {
      next();
      return;
    }
    return invalid(req, res, next);
  };
}
