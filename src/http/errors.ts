/** The one error envelope and the one error middleware: every error response looks the same. */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { type ErrorCode, type FieldIssue, MalipoError } from '../domain/errors';

export interface ErrorEnvelope {
  message: string;
  error: { code: ErrorCode; message: string; details?: unknown[] };
  requestId: string;
}

export function envelope(err: MalipoError, requestId: string): ErrorEnvelope {
  return {
    message: err.message,
    error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
    requestId,
  };
}

/** zod issues → `details` entries (`path` is dotted, `code` is zod's). */
export function zodIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((i) => ({
    path: i.path.map(String).join('.') || '(body)',
    message: i.message,
    code: i.code,
  }));
}

/** Parses `input` with `schema` or throws VALIDATION_ERROR listing every bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, where = 'body'): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw new MalipoError('VALIDATION_ERROR', `The request ${where} is invalid`, {
    details: zodIssues(r.error),
  });
}

export function sendError(res: Response, err: MalipoError): void {
  const requestId = String(res.locals.requestId ?? '');
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res.status(err.status).json(envelope(err, requestId));
}

/** Unknown routes answer 404 in the envelope. */
export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new MalipoError('RESOURCE_NOT_FOUND', `No route for ${req.method} ${req.path}`));
};

/** Maps body-parser failures to our codes; anything unknown becomes a 500 without internals. */
const INTERNAL_MESSAGE = 'Something went wrong on our side; the request id helps us find it';

export function toMalipoError(err: unknown): MalipoError {
  // an INTERNAL_ERROR never shows its own message: it may name internals
  if (err instanceof MalipoError && err.code === 'INTERNAL_ERROR') {
    return new MalipoError('INTERNAL_ERROR', INTERNAL_MESSAGE, { cause: err });
  }
  if (err instanceof MalipoError) return err;
  const e = err as { type?: string; status?: number; message?: string };
  switch (e?.type) {
    case 'entity.parse.failed':
      return new MalipoError('MALFORMED_JSON', 'The request body is not valid JSON');
    case 'entity.too.large':
      return new MalipoError('PAYLOAD_TOO_LARGE', 'The request body is larger than 64 KiB');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new MalipoError('UNSUPPORTED_MEDIA_TYPE', 'The request body encoding is not supported');
    case 'request.aborted':
    case 'request.size.invalid':
      return new MalipoError('VALIDATION_ERROR', 'The request body was incomplete');
  }
  if (e?.status && e.status >= 400 && e.status < 500) {
    return new MalipoError('VALIDATION_ERROR', 'The request could not be read');
  }
  return new MalipoError(
    'INTERNAL_ERROR',
    'Something went wrong on our side; the request id helps us find it',
    {
      cause: err,
    },
  );
}

export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const merr = toMalipoError(err);
  if (merr.status >= 500) {
    req.log?.error({ err: merr.cause ?? merr, code: merr.code }, 'request failed');
  }
  if (res.headersSent) {
    res.end();
    return;
  }
  sendError(res, merr);
};
