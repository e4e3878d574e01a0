/**
 * What every simulated Daraja endpoint shares: the Reply and Daraja's error envelope, field checks,
 * body and bearer-token reading, the handler wrapper, refusals and held-back answers.
 */
import { readFileSync } from 'node:fs';
import type { Request, Response } from 'express';
import { parseNairobiTimestamp, stkPassword } from '../../daraja/password';
import { decryptSecurityCredential, SIMULATOR_KEY_PATH } from '../../daraja/security-credential';
import { redact } from '../b2c';
import type { SandboxApp, SandboxState } from '../state';

export type Body = Record<string, unknown>;

/** A Daraja answer ready to send. */
export class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

export const envelope = (
  state: SandboxState,
  status: number,
  errorCode: string,
  errorMessage: string,
  requestId?: string,
) => new Reply(status, { requestId: requestId ?? state.ids.requestId(), errorCode, errorMessage });

export const invalid = (state: SandboxState, field: string) =>
  envelope(state, 400, '400.002.02', `Bad Request - Invalid ${field}`);

export const isNumeric = (v: unknown, re: RegExp): boolean =>
  (typeof v === 'number' && Number.isInteger(v) && re.test(String(v))) ||
  (typeof v === 'string' && re.test(v));

export const isPhone = (v: unknown) => isNumeric(v, /^254[17]\d{8}$/);
export const isShortcode = (v: unknown) => isNumeric(v, /^\d{5,8}$/);

export function isUrl(v: unknown): boolean {
  if (typeof v !== 'string' || /\s/.test(v)) return false;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Whole KES, 1..250,000, as a number or a numeric string (the docs' own sample sends "1"). */
export function amountOf(v: unknown): number | undefined {
  const n =
    typeof v === 'number'
      ? v
      : typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim())
        ? Number(v)
        : Number.NaN;
  return Number.isInteger(n) && n >= 1 && n <= 250_000 ? n : undefined;
}

export const text = (v: unknown, min: number, max: number) =>
  typeof v === 'string' && v.trim().length >= min && v.length <= max;

/** Reads the JSON body ourselves so a bad one gets Daraja's answer, not express's. */
export function readBody(state: SandboxState, req: Request): Body | Reply {
  // Wrong or missing content type is a documented cause of "Invalid BusinessShortCode" (daraja.md §1.2).
  if (!req.is('application/json')) return invalid(state, 'BusinessShortCode');
  let body: unknown = req.body;
  if (Buffer.isBuffer(body)) body = body.toString('utf8');
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return invalid(state, 'BusinessShortCode');
    }
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    return invalid(state, 'BusinessShortCode');
  return body as Body;
}

/** Bearer token check (Apigee runs it before anything else). */
export function authApp(state: SandboxState, req: Request): SandboxApp | Reply {
  const h = req.get('authorization') ?? '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (!m) return envelope(state, 404, '404.001.04', 'Invalid Authentication Header');
  const app = state.appForToken(m[1]!);
  if (!app) return envelope(state, 404, '404.001.03', 'Invalid Access Token');
  return app;
}

/** Shortcode exists and the Password matches base64(shortcode + passkey + Timestamp). */
export function checkCredentials(state: SandboxState, app: SandboxApp, body: Body): Reply | undefined {
  if (String(body.BusinessShortCode) !== app.shortcode) {
    return envelope(state, 500, '500.001.1001', 'Merchant does not exist');
  }
  const ts = String(body.Timestamp);
  if (stkPassword(app.shortcode, app.passkey, ts) !== body.Password) {
    return envelope(state, 500, '500.001.1001', '[MerchantValidate] - Wrong credentials');
  }
  return undefined;
}

export function checkTimestamp(state: SandboxState, v: unknown): boolean {
  if (typeof v !== 'string' && typeof v !== 'number') return false;
  const at = parseNairobiTimestamp(v);
  if (!at) return false;
  if (state.options.strictTimestamp && Math.abs(at.getTime() - state.now().getTime()) > 3600_000)
    return false;
  return true;
}

type Handler = (req: Request, res: Response) => Reply | Promise<Reply | undefined> | undefined;

/** Runs a handler; any throw becomes Daraja's 500 envelope. `undefined` means the handler answered itself. */
export function route(state: SandboxState, endpoint: string, fn: Handler) {
  return async (req: Request, res: Response) => {
    state.countRequest(endpoint);
    let reply: Reply | undefined;
    try {
      reply = await fn(req, res);
    } catch (err) {
      state.log('sandbox: handler failed', { endpoint, error: String(err) });
      reply = envelope(state, 500, '500.003.1001', 'Internal Server Error');
    }
    if (reply && !res.headersSent) res.status(reply.status).json(reply.body);
  };
}

export const ACCEPTED_ASYNC = 'Accept the service request successfully.';

/** Records an async / C2B request refused with `reply` in the ledger, then returns the reply. */
export function refuser(state: SandboxState, endpoint: string, body: Body) {
  return (reply: Reply): Reply => {
    const r = reply.body as { errorCode: string; errorMessage: string };
    state.recordRejectedAsync({
      at: state.now().toISOString(),
      endpoint,
      httpStatus: reply.status,
      errorCode: r.errorCode,
      errorMessage: r.errorMessage,
      request: redact(body),
    });
    return reply;
  };
}

/**
 * Holds an answer back for `slowResponseMs` (past the client's timeout): the request was accepted and
 * processed, but the client sees an ambiguous initiation. Close drops the connection instead.
 */
export function holdBack(state: SandboxState, res: Response, reply: Reply): undefined {
  const destroy = () => res.destroy();
  state.onClose.add(destroy);
  state.schedule(state.options.slowResponseMs, () => {
    state.onClose.delete(destroy);
    if (!res.writableEnded && !res.destroyed) res.status(reply.status).json(reply.body);
  });
  return undefined;
}

let simulatorKey: string | undefined;
function simulatorPrivateKey(): string {
  simulatorKey ??= readFileSync(SIMULATOR_KEY_PATH, 'utf8');
  return simulatorKey;
}

/** Does the SecurityCredential decrypt (with the simulator's key) to this app's initiator password? */
export function credentialOk(app: SandboxApp, initiator: unknown, credential: unknown): boolean {
  if (typeof credential !== 'string' || initiator !== app.initiatorName) return false;
  try {
    return decryptSecurityCredential(credential, simulatorPrivateKey()) === app.initiatorPassword;
  } catch {
    return false;
  }
}
