/**
 * Bearer-key authentication and scope checks. Sets `res.locals.auth = { merchantId, keyId, environment, scopes }`.
 * Missing header → 401 UNAUTHORIZED; unknown, revoked or expired key → 401 INVALID_API_KEY;
 * a valid key without the scope → 403 MISSING_SCOPE naming it.
 */
import type { RequestHandler, Response } from 'express';
import type { Db } from '../../db';
import { MalipoError } from '../../domain/errors';
import { findActiveKey, type LastUsedTracker } from '../../platform/keys';
import { type AuthContext, hasScope, type Scope } from '../../platform/scopes';

export type { AuthContext } from '../../platform/scopes';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function authenticate(deps: { db: Db; lastUsed?: LastUsedTracker }): RequestHandler {
  return async (req, res, next) => {
    const header = req.get('authorization');
    if (!header) {
      throw new MalipoError('UNAUTHORIZED', 'Send your API key as "Authorization: Bearer mlp_…"', {
        headers: { 'WWW-Authenticate': 'Bearer' },
      });
    }
    const token = BEARER.exec(header)?.[1];
    const auth = token ? await findActiveKey(deps.db, token) : undefined;
    if (!auth) {
      throw new MalipoError('INVALID_API_KEY', 'The API key is unknown, revoked or expired', {
        headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
      });
    }
    res.locals.auth = auth;
    void deps.lastUsed?.touch(auth.keyId);
    next();
  };
}

/**
 * The one scope rule, for API keys and dashboard sessions alike: without `scope` → 403 MISSING_SCOPE naming it.
 */
export function assertScope(auth: AuthContext, scope: Scope): void {
  if (!hasScope(auth.scopes, scope)) {
    throw new MalipoError('MISSING_SCOPE', `This API key lacks the scope ${scope}`, {
      details: [{ path: 'scope', message: `requires ${scope}`, code: 'missing_scope' }],
      context: { scope },
    });
  }
}

export function requireScope(scope: Scope): RequestHandler {
  return (_req, res, next) => {
    assertScope(authOf(res), scope);
    next();
  };
}

/** The authenticated caller; throws if a route forgot to authenticate (a bug, so a 500). */
export function authOf(res: Response): AuthContext {
  const auth = res.locals.auth as AuthContext | undefined;
  if (!auth) throw new Error('route reached without authentication');
  return auth;
}
