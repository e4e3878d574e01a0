/**
 * The simulated Daraja endpoints: same paths, methods, shapes, codes and typos as Safaricom's
 * (daraja.md §2-§8). Every bad request gets Daraja's error envelope; nothing here throws to express.
 * One file per API: stk, b2c, reversal, lookups (status, balance, QR), c2b; common holds what they share.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { SandboxState } from '../state';
import { Reply, envelope, route } from './common';
import { b2cRoutes } from './b2c';
import { c2bRoutes } from './c2b';
import { lookupRoutes, qrRoutes } from './lookups';
import { reversalRoutes } from './reversal';
import { stkRoutes } from './stk';

export { envelope } from './common';

export function createDarajaRouter(state: SandboxState): Router {
  const r = express.Router();
  // Raw text so that malformed JSON still gets a Daraja envelope.
  r.use(express.text({ type: () => true, limit: '64kb' }));

  // ----- OAuth ---------------------------------------------------------------------------
  r.get(
    '/oauth/v1/generate',
    route(state, 'oauth', (req) => {
      if (req.query.grant_type !== 'client_credentials') {
        return envelope(state, 400, '400.008.02', 'Invalid grant type passed');
      }
      const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(req.get('authorization') ?? '');
      if (!m) return envelope(state, 400, '400.008.01', 'Invalid Authentication passed');
      const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      const app = i < 0 ? undefined : state.findAppByCredentials(decoded.slice(0, i), decoded.slice(i + 1));
      if (!app) return envelope(state, 400, '400.008.01', 'Invalid Authentication passed');
      const t = state.issueToken(app);
      // Daraja usually sends expires_in as the string "3599" (daraja.md §2).
      return new Reply(200, {
        access_token: t.token,
        expires_in: state.options.expiresInAsNumber ? t.expiresIn : String(t.expiresIn),
      });
    }),
  );

  stkRoutes(r, state);
  b2cRoutes(r, state);
  reversalRoutes(r, state);
  lookupRoutes(r, state);
  c2bRoutes(r, state);
  qrRoutes(r, state);

  // ----- anything else ------------------------------------------------------------------------
  const KNOWN = new Set([
    '/oauth/v1/generate',
    '/mpesa/stkpush/v1/processrequest',
    '/mpesa/stkpushquery/v1/query',
    '/mpesa/b2c/v3/paymentrequest',
    '/mpesa/b2c/v1/paymentrequest',
    '/mpesa/transactionstatus/v1/query',
    '/mpesa/accountbalance/v1/query',
    '/mpesa/reversal/v1/request',
    '/mpesa/c2b/v2/registerurl',
    '/mpesa/c2b/v1/registerurl',
    '/mpesa/c2b/v1/simulate',
    '/mpesa/c2b/v2/simulate',
    '/mpesa/qrcode/v1/generate',
  ]);
  r.use((req: Request, res: Response) => {
    const reply = KNOWN.has(req.path)
      ? envelope(state, 405, '405.001', 'Method Not Allowed')
      : envelope(state, 404, '404.001.01', 'Resource not found');
    res.status(reply.status).json(reply.body);
  });
  r.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    state.log('sandbox: request failed', { error: String(err) });
    const status = (err as { status?: number }).status;
    const reply =
      status === 413 || status === 400
        ? envelope(state, 400, '400.002.02', 'Bad Request - Invalid BusinessShortCode')
        : envelope(state, 500, '500.003.1001', 'Internal Server Error');
    if (!res.headersSent) res.status(reply.status).json(reply.body);
  });
  return r;
}
