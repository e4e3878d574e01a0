/** The closed set of API error codes, the one table that maps them to HTTP statuses, and the base error. */

export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  INVALID_PHONE_NUMBER: 400,
  INVALID_AMOUNT: 400,
  MALFORMED_JSON: 400,
  UNAUTHORIZED: 401,
  INVALID_API_KEY: 401,
  MISSING_SCOPE: 403,
  FORBIDDEN: 403,
  RESOURCE_NOT_FOUND: 404,
  CONFLICT: 409,
  IDEMPOTENCY_KEY_IN_USE: 409,
  NOT_IN_REVIEW: 409,
  RESOLUTION_CONFLICT: 409,
  GONE: 410,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_MISMATCH: 422,
  CHANNEL_MISCONFIGURED: 422,
  REVERSAL_EXCEEDS_PAYMENT: 422,
  RATE_LIMIT_EXCEEDED: 429,
  INTERNAL_ERROR: 500,
  UPSTREAM_ERROR: 502,
  SERVICE_UNAVAILABLE: 503,
  UPSTREAM_TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** One invalid field, as listed in `error.details`. */
export interface FieldIssue {
  path: string;
  message: string;
  code: string;
}

export interface MalipoErrorOptions {
  details?: unknown[];
  /** May the operation be retried as-is? Drives ApplicationFailure.nonRetryable in activities. */
  retryable?: boolean;
  context?: Record<string, unknown>;
  cause?: unknown;
  headers?: Record<string, string>;
}

/** The base error: a closed `code`, a retry decision, and context that is never shown to callers on 5xx. */
export class MalipoError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown[] | undefined;
  readonly retryable: boolean;
  readonly context: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, opts: MalipoErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'MalipoError';
    this.code = code;
    this.details = opts.details;
    this.retryable = opts.retryable ?? false;
    this.context = opts.context ?? {};
    this.headers = opts.headers ?? {};
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const notFound = (what: string): MalipoError =>
  new MalipoError('RESOURCE_NOT_FOUND', `${what} not found`);

export const validationError = (issues: FieldIssue[], message = 'The request is invalid'): MalipoError =>
  new MalipoError('VALIDATION_ERROR', message, { details: issues });
