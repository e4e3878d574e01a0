/**
 * PostgreSQL text and jsonb cannot hold U+0000, so a NUL anywhere in a request (body, query or
 * path) used to reach the database and come back as a 500. Refuse it up front as a 400.
 * Daraja's callbacks (/hooks/…) are exempt: they are always acknowledged and stored with NUL replaced.
 */
import type { RequestHandler } from 'express';
import { MalipoError } from '../../domain/errors';

const NUL = '\u0000';

function nulPath(v: unknown, path: string, depth = 0): string | undefined {
  if (typeof v === 'string') return v.includes(NUL) ? path || '(body)' : undefined;
  if (depth > 64 || v === null || typeof v !== 'object') return undefined;
  for (const [k, x] of Object.entries(v)) {
    const p = path ? `${path}.${k}` : k;
    if (k.includes(NUL)) return p;
    const found = nulPath(x, p, depth + 1);
    if (found) return found;
  }
  return undefined;
}

function decodedPathHasNul(path: string): boolean {
  if (!path.includes('%')) return path.includes(NUL);
  try {
    return decodeURIComponent(path).includes(NUL);
  } catch {
    return false; // the router answers malformed escapes itself
  }
}

export const rejectNul: RequestHandler = (req, _res, next) => {
  if (req.path.startsWith('/hooks/')) return next();
  const where = decodedPathHasNul(req.path)
    ? 'path'
    : nulPath(req.query, '', 0) !== undefined
      ? `query.${nulPath(req.query, '', 0)}`
      : nulPath(req.body, '', 0);
  if (where === undefined) return next();
  next(
    new MalipoError('VALIDATION_ERROR', 'The request is invalid', {
      details: [{ path: where, message: 'must not contain the NUL character (U+0000)', code: 'custom' }],
    }),
  );
};
