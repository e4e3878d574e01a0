/**
 * What every simulated Daraja API shares: the apps and their credentials, the fault knobs, a recorded
 * POST to a receiver, the refused requests and the simulator's options.
 */

/** A Daraja app as the simulator knows it: credentials and what they may do. */
export interface SandboxApp {
  consumerKey: string;
  consumerSecret: string;
  /** BusinessShortCode for STK (paybill number, or the store number for tills). */
  shortcode: string;
  passkey: string;
  /** Till numbers under this store: valid PartyB for CustomerBuyGoodsOnline. */
  tillNumbers?: string[];
  /** B2C / status / balance shortcode (the 600xxx series in Safaricom's sandbox). */
  b2cShortcode?: string;
  initiatorName?: string;
  initiatorPassword?: string;
  name?: string;
}

/** Safaricom's public sandbox passkey for 174379 (daraja.md §7). */
export const SANDBOX_PASSKEY = 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919';

/** The default app: fixed, documented credentials so anyone can get a token from a standalone simulator. */
export const DEFAULT_APP: SandboxApp = {
  name: 'Malipo sandbox default app',
  consumerKey: 'malipo_sandbox_consumer_key',
  consumerSecret: 'malipo_sandbox_consumer_secret',
  shortcode: '174379',
  passkey: SANDBOX_PASSKEY,
  tillNumbers: ['174380'],
  b2cShortcode: '600000',
  initiatorName: 'testapi',
  initiatorPassword: 'Safaricom999!*!',
};

/** Probabilities (0..1) of each fault, drawn from the seeded random source per request. */
export interface FaultRates {
  /** Push answered HTTP 500 (500.003.1001), no prompt created. */
  pushError: number;
  /** Push accepted (prompt created) but the response delayed past the client's timeout. */
  ambiguousPush: number;
  dropCallback: number;
  duplicateCallback: number;
  lateCallback: number;
  /** STK Query answered with a transient error (busy envelope or an Apigee spike-arrest fault). */
  queryError: number;
  /** B2C request answered HTTP 500 (500.003.1001) and not processed. */
  b2cRequestError500: number;
  /** B2C request processed, but its Result is never sent. */
  b2cResultDrop: number;
  /** B2C Result sent twice. */
  b2cResultDuplicate: number;
  /** B2C request times out in the queue: a Result to QueueTimeOutURL, nothing paid. */
  b2cQueueTimeout: number;
  /** Transaction Status / Account Balance request answered HTTP 500 (500.003.1001), not processed. */
  statusQueryError: number;
  /** Reversal request answered HTTP 500 (500.003.1001) and not processed. */
  reversalRequestError500: number;
  /** Reversal request processed, but its answer held back past the client's timeout (a lost response). */
  reversalLostResponse: number;
  /** Reversal processed, but its Result is never sent. */
  reversalResultDrop: number;
  /** Reversal Result sent after `lateCallbackDelayMs`. */
  reversalResultLate: number;
  /** Reversal Result sent twice. */
  reversalResultDuplicate: number;
}

export const NO_FAULTS: FaultRates = {
  pushError: 0,
  ambiguousPush: 0,
  dropCallback: 0,
  duplicateCallback: 0,
  lateCallback: 0,
  queryError: 0,
  b2cRequestError500: 0,
  b2cResultDrop: 0,
  b2cResultDuplicate: 0,
  b2cQueueTimeout: 0,
  statusQueryError: 0,
  reversalRequestError500: 0,
  reversalLostResponse: 0,
  reversalResultDrop: 0,
  reversalResultLate: 0,
  reversalResultDuplicate: 0,
};

export interface CallbackAttempt {
  attempt: number;
  /** ISO time the POST started. */
  at: string;
  ok: boolean;
  httpStatus?: number | undefined;
  error?: string | undefined;
}

/** A POST to a receiver as the payout, status-query and C2B ledgers record it: which URL it went to. */
export interface TargetedAttempt extends CallbackAttempt {
  target: 'ResultURL' | 'QueueTimeOutURL' | 'ValidationURL' | 'ConfirmationURL';
  url: string;
}

/** What `post()` saw: the recorded attempt, the reply body (if any), whether it timed out. */
export interface PostOutcome {
  attempt: CallbackAttempt;
  text: string | undefined;
  timedOut: boolean;
}

/** A request to an async or C2B endpoint refused by field validation (or, for simulate, with no registered URLs). */
export interface RejectedAsyncRequest {
  at: string;
  endpoint: string;
  httpStatus: number;
  errorCode: string;
  errorMessage: string;
  /** As sent, with SecurityCredential / Password replaced by "[redacted]". */
  request: Record<string, unknown>;
}

export interface SandboxOptions {
  /** Seed for the random source (ids, receipts, fault draws). Default: time-based. */
  seed?: number;
  /** How long a scripted customer takes to act; the callback is sent when they act. Default 1000 ms. */
  callbackDelayMs?: number;
  /** When a "late" callback is sent, after the customer acted. Default 180000 ms (3 minutes). */
  lateCallbackDelayMs?: number;
  /** Gap between the two POSTs of a duplicated callback. Default 250 ms. */
  duplicateCallbackGapMs?: number;
  /** How long a prompt to a non-scenario phone waits for the handset page; then 1037. Default 60000 ms. */
  promptTimeoutMs?: number;
  /** How long an "ambiguous" push response is held back. Default 35000 ms (past the client's 30 s). */
  slowResponseMs?: number;
  /** Token lifetime in seconds. Default 3599. */
  tokenTtlSeconds?: number;
  /** Send `expires_in` as a number rather than Daraja's usual string. Default false. */
  expiresInAsNumber?: boolean;
  /** Opt-in: reject Timestamps more than an hour from the simulator clock (Daraja seems not to check). */
  strictTimestamp?: boolean;
  /** Apps; default `[DEFAULT_APP]`. */
  apps?: SandboxApp[];
  /** How long the simulator waits for a C2B ValidationURL reply before applying ResponseType. Default 8000 ms. */
  c2bValidationTimeoutMs?: number;
  /** How many times a C2B confirmation is POSTed until answered 2xx. Default 4. */
  c2bConfirmationAttempts?: number;
  /** Delay before the first confirmation retry; doubles each time. Default 1000 ms. */
  c2bConfirmationRetryMs?: number;
  /** Used to POST callbacks. Default global fetch. */
  fetch?: typeof fetch;
  now?: () => Date;
  log?: (msg: string, extra?: object) => void;
}
