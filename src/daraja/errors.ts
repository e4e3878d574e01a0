/** DarajaError: one error for every way a Daraja call can fail, carrying whether it is safe to try again. */
import { type FieldIssue, MalipoError } from '../domain/errors';

/**
 * - `not_sent`: failed before the request left us (DNS, connect refused/timeout, token fetch):
 *   Daraja never saw it, so retrying is safe even for money-moving calls.
 * - `rejected`: Daraja (or its Apigee gateway) answered with a definitive refusal; nothing happened.
 *   `transient` says whether the same request may succeed later (spike arrest, quota, busy, locked subscriber).
 * - `ambiguous`: the request was sent but no usable answer came back (timeout, reset, a gateway
 *   5xx page, an unreadable 2xx). Daraja may have acted on it: never blindly repeat a push or payout.
 */
export type DarajaErrorKind = 'not_sent' | 'rejected' | 'ambiguous';

export interface DarajaErrorInit {
  kind: DarajaErrorKind;
  /**
   * Safe to show an API caller: built only from our own words and Daraja's `errorCode`,
   * `errorMessage` and `requestId`, never from a connect error or a body that is not a Daraja answer.
   */
  message: string;
  /** For logs only: the transport's own words (connect errors), never shown to API callers. */
  detail?: string | undefined;
  /** Daraja path called, e.g. `/mpesa/stkpush/v1/processrequest`. */
  endpoint?: string | undefined;
  httpStatus?: number | undefined;
  errorCode?: string | undefined;
  errorMessage?: string | undefined;
  requestId?: string | undefined;
  /** The body as received when it was not a Daraja envelope (Apigee fault, HTML, empty). */
  rawBody?: string | undefined;
  transient?: boolean | undefined;
  cause?: unknown;
}

export class DarajaError extends MalipoError {
  readonly kind: DarajaErrorKind;
  readonly endpoint: string | undefined;
  readonly httpStatus: number | undefined;
  readonly errorCode: string | undefined;
  readonly errorMessage: string | undefined;
  readonly requestId: string | undefined;
  readonly rawBody: string | undefined;
  readonly detail: string | undefined;
  readonly transient: boolean;

  constructor(init: DarajaErrorInit) {
    const transient = init.transient ?? false;
    super('UPSTREAM_ERROR', init.message, {
      // not_sent is always safe; a transient rejection means "nothing happened, try later".
      retryable: init.kind === 'not_sent' || (init.kind === 'rejected' && transient),
      context: {
        kind: init.kind,
        endpoint: init.endpoint,
        httpStatus: init.httpStatus,
        errorCode: init.errorCode,
        errorMessage: init.errorMessage,
        requestId: init.requestId,
      },
      cause: init.cause,
    });
    this.name = 'DarajaError';
    this.kind = init.kind;
    this.endpoint = init.endpoint;
    this.httpStatus = init.httpStatus;
    this.errorCode = init.errorCode;
    this.errorMessage = init.errorMessage;
    this.requestId = init.requestId;
    this.rawBody = init.rawBody;
    this.detail = init.detail;
    this.transient = transient;
  }

  /** The STK Query "still waiting for the customer" answer (daraja.md §4.1). */
  get isPending(): boolean {
    return this.errorCode === '500.001.1001' && /being processed/i.test(this.errorMessage ?? '');
  }

  /** An expired, unknown or product-less token: refresh once and retry once. */
  get isInvalidToken(): boolean {
    return isInvalidTokenAnswer(this.httpStatus, this.errorCode);
  }
}

/** A request we refused to send because a field breaks Daraja's rules (fix the input; never retry as-is). */
export class DarajaInputError extends MalipoError {
  constructor(issues: FieldIssue[]) {
    super(
      'VALIDATION_ERROR',
      `Invalid Daraja request: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
      {
        details: issues,
        retryable: false,
      },
    );
    this.name = 'DarajaInputError';
  }
}

/** Token error codes from the docs (daraja.md §9.4): 404.001.03 STK, 400.003.01 C2B/status, 401.002.01 balance. */
const INVALID_TOKEN_CODES = new Set(['404.001.03', '400.003.01', '401.002.01']);

export function isInvalidTokenAnswer(httpStatus: number | undefined, errorCode: string | undefined): boolean {
  return httpStatus === 401 || (errorCode !== undefined && INVALID_TOKEN_CODES.has(errorCode));
}

/** Rate limits, quotas, busy systems and a locked subscriber: the request did nothing, and may work later. */
export function isTransientAnswer(
  httpStatus: number | undefined,
  errorCode: string | undefined,
  message: string | undefined,
): boolean {
  if (httpStatus === 429 || httpStatus === 503) return true;
  if (errorCode === '500.003.02' || errorCode === '500.003.03') return true;
  const text = `${errorCode ?? ''} ${message ?? ''}`;
  return /spike\s*arrest|quota|rate\s*limit|system is busy|unable to lock subscriber/i.test(text);
}

/** What we could read out of an error body. */
export interface ErrorBodyInfo {
  errorCode?: string | undefined;
  errorMessage?: string | undefined;
  requestId?: string | undefined;
  /** Set when the body was not a Daraja envelope, so nothing is lost. */
  rawBody?: string | undefined;
  /** True when the body was JSON that Daraja or Apigee produced (envelope, fault, ResponseCode). */
  recognised: boolean;
}

const MAX_RAW = 4000;
/** Daraja's fields reach API callers: one line, printable, bounded. */
const MAX_FIELD = 300;
export const cleanField = (v: unknown): string | undefined => {
  const s = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
  if (s === undefined) return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return clean.length > MAX_FIELD ? `${clean.slice(0, MAX_FIELD)}…` : clean;
};
const str = cleanField;

/**
 * Reads any error body defensively (daraja.md §1.3): the usual `{requestId, errorCode, errorMessage}`
 * envelope, a raw Apigee fault, the SOAP-ish `{Envelope:{Body:{Fault}}}`, a sync answer with a non-zero
 * `ResponseCode`, or anything else (HTML, text, empty), which is kept in `rawBody`.
 */
export function readErrorBody(text: string): ErrorBodyInfo {
  let json: unknown;
  try {
    json = text.trim() === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (json !== null && typeof json === 'object') {
    const o = json as Record<string, unknown>;
    if (o.errorCode !== undefined || o.errorMessage !== undefined) {
      return {
        errorCode: str(o.errorCode),
        errorMessage: str(o.errorMessage),
        requestId: str(o.requestId),
        recognised: true,
      };
    }
    const fault = o.fault as Record<string, unknown> | undefined;
    if (fault && typeof fault === 'object') {
      const detail = fault.detail as Record<string, unknown> | undefined;
      return {
        errorCode: str(detail?.errorcode),
        errorMessage: str(fault.faultstring),
        rawBody: text.slice(0, MAX_RAW),
        recognised: true,
      };
    }
    const soap = (o.Envelope as { Body?: { Fault?: Record<string, unknown> } } | undefined)?.Body?.Fault;
    if (soap && typeof soap === 'object') {
      return {
        errorCode: str(soap.faultcode),
        errorMessage: str(soap.faultstring),
        rawBody: text.slice(0, MAX_RAW),
        recognised: true,
      };
    }
    if (o.ResponseCode !== undefined) {
      return {
        errorCode: str(o.ResponseCode),
        errorMessage: str(o.ResponseDescription),
        requestId: str(o.requestId) ?? str(o.RequestID),
        recognised: true,
      };
    }
  }
  return { rawBody: text.slice(0, MAX_RAW), recognised: false };
}

/**
 * Turns a non-2xx HTTP answer into a DarajaError.
 * Classification (our choice, daraja.md §13 leaves statuses unsure):
 * - any 4xx, 429 and 503, and any 5xx carrying a Daraja/Apigee JSON body → `rejected`
 *   (a definitive answer with a code; `transient` for rate limits, busy and locked subscriber);
 * - any other 5xx whose body we cannot read (HTML error page, empty) → `ambiguous`: a load balancer
 *   or gateway answered, and the backend may have received the request.
 */
export function errorFromResponse(endpoint: string, httpStatus: number, text: string): DarajaError {
  const info = readErrorBody(text);
  const transient = isTransientAnswer(httpStatus, info.errorCode, info.errorMessage);
  const definitive = httpStatus < 500 || httpStatus === 503 || info.recognised;
  // the body is quoted only through Daraja's own fields: an HTML page or another host's text never is
  const what =
    info.errorCode || info.errorMessage
      ? `${info.errorCode ?? ''} ${info.errorMessage ?? ''}`.trim()
      : `HTTP ${httpStatus} ${info.rawBody ? 'with a body that is not a Daraja answer' : '(empty body)'}`;
  return new DarajaError({
    kind: definitive ? 'rejected' : 'ambiguous',
    message: `Daraja ${endpoint} answered ${what}`,
    endpoint,
    httpStatus,
    errorCode: info.errorCode,
    errorMessage: info.errorMessage,
    requestId: info.requestId,
    rawBody: info.rawBody,
    transient,
  });
}
