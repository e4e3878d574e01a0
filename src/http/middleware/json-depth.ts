/**
 * A JSON body may nest at most MAX_BODY_DEPTH levels. express.json parses any depth within 64 KiB, but
 * JSON.stringify, zod and our own recursive walks throw RangeError on a value nested a few thousand
 * levels deep, which used to answer 500. Merchant routes get 400 VALIDATION_ERROR; a Daraja hook
 * (/hooks/…) is always acknowledged, so its too-deep body is dropped (the route sees no body), logged,
 * and the route answers as for any unreadable callback.
 */
import type { RequestHandler } from 'express';
import { MalipoError } from '../../domain/errors';
import { jsonDepth } from '../schemas';

/** Far above any genuine body (Daraja's callbacks nest 5 levels), far below where recursion fails. */
export const MAX_BODY_DEPTH = 32;

export const limitJsonDepth: RequestHandler = (req, _res, next) => {
  if (req.body === undefined || req.body === null || typeof req.body !== 'object') return next();
  if (jsonDepth(req.body, MAX_BODY_DEPTH) <= MAX_BODY_DEPTH) return next();
  if (req.path.startsWith('/hooks/')) {
    // the path's third segment names the hook kind; the token after it never reaches a log line
    const kind = req.path.split('/')[3]?.slice(0, 20);
    req.log?.warn({ hook: kind, maxDepth: MAX_BODY_DEPTH }, 'Daraja hook body nested too deeply, ignored');
    req.body = undefined;
    return next();
  }
  next(
    new MalipoError('VALIDATION_ERROR', 'The request body is invalid', {
      details: [
        {
          path: '(body)',
          message: `must not nest objects and arrays more than ${MAX_BODY_DEPTH} levels deep`,
          code: 'too_deep',
        },
      ],
    }),
  );
};
