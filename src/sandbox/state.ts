/**
 * The simulator's state: apps, tokens, open prompts, fault knobs, timers, and the ground-truth ledger
 * that tests and the benchmark read to prove final states and "one push per payment".
 */
import { checkoutRequestId, createRandom, IdFactory } from './ids';
import {
  type B2cResponseMode,
  type B2cResultMode,
  b2cScenarioFor,
  type CallbackMode,
  customerActionFor,
  type PushMode,
  resultDescription,
  scenarioFor,
} from './scenarios';

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

/** A scripted outcome set through the control API. */
export interface OutcomeOverride {
  resultCode: number | string;
  callback?: CallbackMode | undefined;
}

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

/** One push in the ground-truth ledger. */
export interface LedgerEntry {
  checkoutRequestId: string;
  merchantRequestId: string;
  shortcode: string;
  transactionType: string;
  partyB: string;
  phone: string;
  amount: number;
  accountReference: string;
  transactionDesc: string;
  callbackUrl: string;
  pushedAt: string;
  /** Where the outcome came from: `scenario`, `override`, `handset`, `control`, `timeout`. */
  source: string;
  callbackMode: CallbackMode;
  /** The push response was held back past the client's timeout. */
  responseDelayed: boolean;
  status: 'open' | 'completed';
  /** What the customer did: paid, cancelled, unreachable, insufficient_funds, wrong_pin, expired, ignored, no_answer… */
  customerAction: string | null;
  resultCode: number | string | null;
  resultDesc: string | null;
  actedAt: string | null;
  receipt: string | null;
  callbacks: CallbackAttempt[];
  queries: number;
}

export interface RejectedPush {
  at: string;
  phone: string | null;
  accountReference: string | null;
  httpStatus: number;
  errorCode: string;
  errorMessage: string;
}

/** An async (B2C, status, balance) request as recorded. */
export interface AsyncLedgerEntry {
  kind: 'b2c' | 'transaction_status' | 'account_balance';
  originatorConversationId: string;
  conversationId: string;
  at: string;
  request: Record<string, unknown>;
  resultCode: number | string;
  receipt: string | null;
  callbacks: CallbackAttempt[];
}

/**
 * One B2C payment request (v3 or v1) that passed authentication and field validation, however it was
 * answered: accepted (200), answered 500 by a scenario phone or a fault (not processed), or refused
 * as a duplicate OriginatorConversationID. The ledger is ground truth: `paid` says whether money moved.
 */
export interface PayoutLedgerEntry {
  apiVersion: 1 | 3;
  /** As sent on v3; generated by the simulator on v1. */
  originatorConversationId: string;
  /** Null when the request was not accepted. */
  conversationId: string | null;
  receivedAt: string;
  /** The request body as sent, with SecurityCredential replaced by "[redacted]". */
  request: Record<string, unknown>;
  /** PartyA. */
  shortcode: string;
  /** PartyB, full MSISDN. */
  phone: string;
  amount: number;
  commandId: string;
  resultUrl: string;
  queueTimeoutUrl: string;
  /** The HTTP answer to the request. */
  httpStatus: number;
  errorCode: string | null;
  errorMessage: string | null;
  /** The answer was held back past the client's timeout (`slowResponseMs`): an ambiguous initiation. */
  responseDelayed: boolean;
  /** `scenario` (a B2C scenario phone), `default` (any other phone), `duplicate` (refused). */
  source: 'scenario' | 'default' | 'duplicate';
  /** Fault rates that fired for this request (e.g. `["b2cResultDuplicate"]`). */
  faults: string[];
  /** M-Pesa executed the request (false for 500s, duplicates and queue timeouts). */
  processed: boolean;
  /** Money moved to the recipient. */
  paid: boolean;
  /** The ResultCode of the Result (sent or not); for a queue timeout, the one sent to QueueTimeOutURL. */
  resultCode: number | string | null;
  resultDesc: string | null;
  /** M-Pesa receipt, only when paid. */
  receipt: string | null;
  /** TransactionID in the Result (the receipt when paid; a failed transaction's id otherwise). */
  transactionId: string | null;
  completedAt: string | null;
  /** How the Result is delivered: `result_url`, `duplicate` (twice), `dropped` (never), `queue_timeout_url`, `none` (not accepted). */
  delivery: 'result_url' | 'duplicate' | 'dropped' | 'queue_timeout_url' | 'none';
  callbacks: TargetedAttempt[];
  /** Transaction Status queries that asked about this payout (by OriginalConversationID or receipt). */
  statusQueries: number;
}

/** One Transaction Status or Account Balance request that passed field validation. */
export interface StatusQueryLedgerEntry {
  kind: 'transaction_status' | 'account_balance';
  at: string;
  /** 200 accepted; 500 = the statusQueryError fault (not processed, no Result). */
  httpStatus: number;
  errorCode: string | null;
  /** The query's own ids (null when answered 500). */
  originatorConversationId: string | null;
  conversationId: string | null;
  /** What was asked (Transaction Status only). */
  transactionId: string | null;
  originalConversationId: string | null;
  /** What the query matched: an STK push, a B2C payout, a C2B payment or a reversal (null = not found / not a status query). */
  found: { kind: 'stk' | 'b2c' | 'c2b' | 'reversal'; receipt: string; id: string } | null;
  resultCode: number | string | null;
  resultDesc: string | null;
  resultUrl: string;
  callbacks: TargetedAttempt[];
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

export interface C2bRegistration {
  at: string;
  shortcode: string;
  responseType: string;
  confirmationUrl: string;
  validationUrl: string;
}

/** A customer paying a paybill/till unprompted (control API or Daraja's simulate endpoint). */
export interface C2bPaymentLedgerEntry {
  transId: string;
  /** `control` = POST /__sandbox/c2b/payments; `simulate` = /mpesa/c2b/v1|v2/simulate. */
  via: 'control' | 'simulate';
  /** The simulate acknowledgement's OriginatorCoversationID; null for the control API. */
  originatorConversationId: string | null;
  at: string;
  /** EAT `YYYYMMDDHHmmss`, as sent in TransTime. */
  transTime: string;
  shortcode: string;
  /** Full MSISDN (the payloads carry a masked one). */
  phone: string;
  amount: number;
  billRefNumber: string;
  transactionType: 'Pay Bill' | 'Buy Goods';
  /** The registration used (latest for the shortcode). */
  registration: C2bRegistration;
  validation: {
    /** The payload POSTed to the ValidationURL. */
    request: Record<string, unknown>;
    attempt: TargetedAttempt | null;
    /** The receiver's reply body (parsed JSON, or the raw text), null if none. */
    reply: unknown;
    /** `accepted` / `rejected` by the reply; otherwise the registration's ResponseType decided. */
    outcome: 'accepted' | 'rejected' | 'unreachable' | 'timeout' | 'http_error' | 'invalid_reply' | 'pending';
    resultCode: string | null;
  };
  /** Who decided: the validation reply, or the registration's ResponseType (no usable reply). */
  decidedBy: 'validation' | 'response_type' | null;
  /** The payment went through (money moved); false = rejected, no confirmation. Null while validating. */
  accepted: boolean | null;
  thirdPartyTransId: string | null;
  /** Org balance after this payment (only when accepted). */
  orgAccountBalance: string | null;
  confirmation: {
    /** The payload POSTed to the ConfirmationURL (null when rejected). */
    request: Record<string, unknown> | null;
    attempts: TargetedAttempt[];
    delivered: boolean;
  };
  /** Transaction Status queries that asked about this TransID. */
  statusQueries: number;
}

export interface LedgerSnapshot {
  pushes: LedgerEntry[];
  pushesByPhone: Record<string, number>;
  pushesByAccountReference: Record<string, number>;
  rejectedPushes: RejectedPush[];
  requests: Record<string, number>;
  /** Accepted B2C, Transaction Status and Account Balance requests (the original flat view). */
  asyncRequests: AsyncLedgerEntry[];
  c2bRegistrations: C2bRegistration[];
  /** Every B2C request that passed validation, in arrival order (including 500s, duplicates and slow answers). */
  payouts: PayoutLedgerEntry[];
  /** Every Transaction Status / Account Balance query that passed validation (including faulted 500s). */
  statusQueries: StatusQueryLedgerEntry[];
  /** Every C2B customer payment (control API or simulate). */
  c2bPayments: C2bPaymentLedgerEntry[];
  /** Async / C2B requests refused by field validation. */
  rejectedAsyncRequests: RejectedAsyncRequest[];
  /** Every Reversal request that passed validation, in arrival order (including 500s and refusals). */
  reversals: ReversalLedgerEntry[];
}

/**
 * One Reversal request that passed authentication and field validation. Ground truth: `reversed`
 * says whether money went back; the reversed amounts of one original transaction never exceed it.
 */
export interface ReversalLedgerEntry {
  /** Generated by the simulator (the Reversal request carries none). Null when answered 500. */
  originatorConversationId: string | null;
  conversationId: string | null;
  receivedAt: string;
  /** The request body as sent, with SecurityCredential replaced by "[redacted]". */
  request: Record<string, unknown>;
  /** The receipt of the transaction being reversed (TransactionID). */
  originalTransactionId: string;
  /** What the original transaction was, when the simulator knows it. */
  original: { kind: 'stk' | 'b2c' | 'c2b'; amount: number; phone: string } | null;
  amount: number;
  receiverParty: string;
  resultUrl: string;
  queueTimeoutUrl: string;
  httpStatus: number;
  errorCode: string | null;
  /** The answer was held back past the client's timeout (a lost response). */
  responseDelayed: boolean;
  faults: string[];
  /** M-Pesa executed the request (false for 500s). */
  processed: boolean;
  /** Money went back to the customer. */
  reversed: boolean;
  resultCode: number | string | null;
  resultDesc: string | null;
  /** The reversal's own transaction id (when processed). */
  transactionId: string | null;
  /** `result_url`, `duplicate`, `late`, `dropped`, `none` (answered 500). */
  delivery: 'result_url' | 'duplicate' | 'late' | 'dropped' | 'none';
  callbacks: TargetedAttempt[];
  statusQueries: number;
}

/** How a B2C request will be handled (scenario phone, then fault rates). */
export interface PayoutPlan {
  response: B2cResponseMode;
  result: B2cResultMode | 'duplicate';
  /** The scenario's ResultCode (0 = paid) before the credential check. */
  resultCode: number;
  source: 'scenario' | 'default';
  faults: string[];
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

interface Txn extends LedgerEntry {
  app: SandboxApp;
  expiryTimer?: NodeJS.Timeout | undefined;
}

interface TokenInfo {
  app: SandboxApp;
  expiresAt: number;
}

/** The simulator's in-process state and control surface. */
export class SandboxState {
  readonly options: Required<Omit<SandboxOptions, 'seed' | 'apps' | 'fetch' | 'now' | 'log'>>;
  readonly apps: SandboxApp[];
  readonly ids: IdFactory;
  readonly random: () => number;
  readonly now: () => Date;
  readonly log: (msg: string, extra?: object) => void;
  readonly #fetch: typeof fetch;
  readonly #seed: number;

  #tokens = new Map<string, TokenInfo>();
  #txns = new Map<string, Txn>();
  #openByPhone = new Map<string, string>();
  #phoneOverrides = new Map<string, OutcomeOverride>();
  #faults: FaultRates = { ...NO_FAULTS };
  #rejected: RejectedPush[] = [];
  #requests: Record<string, number> = {};
  #async: AsyncLedgerEntry[] = [];
  #c2b: C2bRegistration[] = [];
  #payouts: PayoutLedgerEntry[] = [];
  #statusQueries: StatusQueryLedgerEntry[] = [];
  #c2bPayments: C2bPaymentLedgerEntry[] = [];
  #c2bBalances = new Map<string, number>();
  #rejectedAsync: RejectedAsyncRequest[] = [];
  #reversals: ReversalLedgerEntry[] = [];
  #generation = 0;
  #timers = new Set<NodeJS.Timeout>();
  #inflight = new Set<AbortController>();
  #closed = false;
  /** Things to run on close (held-back responses). */
  readonly onClose = new Set<() => void>();

  constructor(opts: SandboxOptions = {}) {
    this.options = {
      callbackDelayMs: opts.callbackDelayMs ?? 1000,
      lateCallbackDelayMs: opts.lateCallbackDelayMs ?? 180_000,
      duplicateCallbackGapMs: opts.duplicateCallbackGapMs ?? 250,
      promptTimeoutMs: opts.promptTimeoutMs ?? 60_000,
      slowResponseMs: opts.slowResponseMs ?? 35_000,
      tokenTtlSeconds: opts.tokenTtlSeconds ?? 3599,
      expiresInAsNumber: opts.expiresInAsNumber ?? false,
      strictTimestamp: opts.strictTimestamp ?? false,
      c2bValidationTimeoutMs: opts.c2bValidationTimeoutMs ?? 8000,
      c2bConfirmationAttempts: opts.c2bConfirmationAttempts ?? 4,
      c2bConfirmationRetryMs: opts.c2bConfirmationRetryMs ?? 1000,
    };
    this.apps = opts.apps && opts.apps.length > 0 ? opts.apps : [DEFAULT_APP];
    this.#seed = opts.seed ?? Date.now() % 2 ** 31;
    this.random = createRandom(this.#seed);
    this.ids = new IdFactory(this.random);
    this.now = opts.now ?? (() => new Date());
    this.log = opts.log ?? (() => {});
    this.#fetch = opts.fetch ?? globalThis.fetch;
  }

  // ----- timers ---------------------------------------------------------------------------

  /** setTimeout that close() cancels; errors in `fn` are logged, never thrown. */
  schedule(ms: number, fn: () => unknown): NodeJS.Timeout {
    const t = setTimeout(
      () => {
        this.#timers.delete(t);
        if (this.#closed) return;
        Promise.resolve()
          .then(fn)
          .catch((err: unknown) => this.log('sandbox timer failed', { error: String(err) }));
      },
      Math.max(0, ms),
    );
    this.#timers.add(t);
    return t;
  }

  cancel(t: NodeJS.Timeout | undefined): void {
    if (!t) return;
    clearTimeout(t);
    this.#timers.delete(t);
  }

  get closed(): boolean {
    return this.#closed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const ac of this.#inflight) ac.abort();
    for (const fn of this.onClose) {
      try {
        fn();
      } catch {
        // closing must not throw
      }
    }
    this.onClose.clear();
  }

  // ----- apps and tokens ------------------------------------------------------------------

  findAppByCredentials(key: string, secret: string): SandboxApp | undefined {
    return this.apps.find((a) => a.consumerKey === key && a.consumerSecret === secret);
  }

  issueToken(app: SandboxApp): { token: string; expiresIn: number } {
    const token = this.ids.chars('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 28);
    const ttl = this.options.tokenTtlSeconds;
    this.#tokens.set(token, { app, expiresAt: this.now().getTime() + ttl * 1000 });
    return { token, expiresIn: ttl };
  }

  appForToken(token: string): SandboxApp | undefined {
    const t = this.#tokens.get(token);
    if (!t) return undefined;
    if (this.now().getTime() >= t.expiresAt) {
      this.#tokens.delete(token);
      return undefined;
    }
    return t.app;
  }

  /** Makes every issued token invalid (tests of refresh-and-retry). */
  expireTokens(): void {
    this.#tokens.clear();
  }

  countRequest(endpoint: string): void {
    this.#requests[endpoint] = (this.#requests[endpoint] ?? 0) + 1;
  }

  // ----- faults and overrides ---------------------------------------------------------------

  get faults(): FaultRates {
    return { ...this.#faults };
  }

  setFaults(rates: Partial<FaultRates>): FaultRates {
    for (const [k, v] of Object.entries(rates)) {
      if (k in NO_FAULTS && typeof v === 'number' && v >= 0 && v <= 1)
        this.#faults[k as keyof FaultRates] = v;
    }
    return this.faults;
  }

  /** Draws one fault decision from the seeded random source. */
  roll(rate: number): boolean {
    const r = this.random();
    return rate > 0 && r < rate;
  }

  setPhoneOutcome(phone: string, outcome: OutcomeOverride): void {
    this.#phoneOverrides.set(phone, outcome);
  }

  clearPhoneOutcome(phone: string): void {
    this.#phoneOverrides.delete(phone);
  }

  reset(): void {
    for (const txn of this.#txns.values()) this.cancel(txn.expiryTimer);
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const ac of this.#inflight) ac.abort();
    this.#txns.clear();
    this.#openByPhone.clear();
    this.#phoneOverrides.clear();
    this.#faults = { ...NO_FAULTS };
    this.#rejected = [];
    this.#requests = {};
    this.#async = [];
    this.#c2b = [];
    this.#payouts = [];
    this.#statusQueries = [];
    this.#c2bPayments = [];
    this.#c2bBalances.clear();
    this.#rejectedAsync = [];
    this.#reversals = [];
    this.#generation++;
  }

  /** Bumped by reset(): multi-step flows (C2B) stop when it changes under them. */
  get generation(): number {
    return this.#generation;
  }

  // ----- pushes ---------------------------------------------------------------------------

  openPromptFor(phone: string): string | undefined {
    return this.#openByPhone.get(phone);
  }

  recordRejectedPush(r: RejectedPush): void {
    this.#rejected.push(r);
  }

  /** Decides how a push to `phone` will be answered (scenario, override, fault rates). */
  planPush(phone: string): {
    push: PushMode;
    callback: CallbackMode;
    outcome?: OutcomeOverride;
    source: string;
  } {
    const override = this.#phoneOverrides.get(phone);
    const scenario = scenarioFor(phone);
    // Draw every fault die in a fixed order so a seed always gives the same run.
    const f = this.#faults;
    const rolls = {
      pushError: this.roll(f.pushError),
      ambiguous: this.roll(f.ambiguousPush),
      drop: this.roll(f.dropCallback),
      duplicate: this.roll(f.duplicateCallback),
      late: this.roll(f.lateCallback),
    };
    let push: PushMode = scenario?.push ?? 'accept';
    if (push === 'accept' && rolls.pushError) push = 'error500';
    else if (push === 'accept' && rolls.ambiguous) push = 'slow';
    let callback: CallbackMode = override?.callback ?? scenario?.callback ?? 'normal';
    if (callback === 'normal') {
      if (rolls.drop) callback = 'drop';
      else if (rolls.duplicate) callback = 'duplicate';
      else if (rolls.late) callback = 'late';
    }
    if (override) return { push, callback, outcome: override, source: 'override' };
    if (scenario) return { push, callback, outcome: { resultCode: scenario.resultCode }, source: 'scenario' };
    return { push, callback, source: 'handset' };
  }

  createPush(input: {
    app: SandboxApp;
    shortcode: string;
    transactionType: string;
    partyB: string;
    phone: string;
    amount: number;
    accountReference: string;
    transactionDesc: string;
    callbackUrl: string;
    callbackMode: CallbackMode;
    responseDelayed: boolean;
    source: string;
  }): Txn {
    const at = this.now();
    let id = checkoutRequestId(at, input.phone);
    for (let bump = 1; this.#txns.has(id); bump++)
      id = checkoutRequestId(new Date(at.getTime() + bump), input.phone);
    const txn: Txn = {
      app: input.app,
      checkoutRequestId: id,
      merchantRequestId: this.ids.merchantRequestId(),
      shortcode: input.shortcode,
      transactionType: input.transactionType,
      partyB: input.partyB,
      phone: input.phone,
      amount: input.amount,
      accountReference: input.accountReference,
      transactionDesc: input.transactionDesc,
      callbackUrl: input.callbackUrl,
      pushedAt: at.toISOString(),
      source: input.source,
      callbackMode: input.callbackMode,
      responseDelayed: input.responseDelayed,
      status: 'open',
      customerAction: null,
      resultCode: null,
      resultDesc: null,
      actedAt: null,
      receipt: null,
      callbacks: [],
      queries: 0,
    };
    this.#txns.set(id, txn);
    this.#openByPhone.set(input.phone, id);
    return txn;
  }

  /** Schedules what the customer of `txn` will do. */
  scheduleCustomer(txn: Txn, outcome: OutcomeOverride | undefined): void {
    if (outcome) {
      txn.expiryTimer = this.schedule(this.options.callbackDelayMs, () => {
        this.complete(txn.checkoutRequestId, outcome.resultCode, undefined, txn.source);
      });
    } else {
      // A phone nobody scripted: wait for the handset page or the control API, then time out.
      txn.expiryTimer = this.schedule(this.options.promptTimeoutMs, () => {
        this.complete(txn.checkoutRequestId, 1037, 'no_answer', 'timeout');
      });
    }
  }

  txn(checkoutRequestId: string): Txn | undefined {
    return this.#txns.get(checkoutRequestId);
  }

  /**
   * The customer acts (or the prompt times out): the result becomes final for STK Query at once,
   * and the callback is sent as planned. Returns false if the prompt was not open.
   */
  complete(
    checkoutRequestId: string,
    resultCode: number | string,
    action?: string,
    source?: string,
    callbackMode?: CallbackMode,
  ): boolean {
    const txn = this.#txns.get(checkoutRequestId);
    if (txn?.status !== 'open') return false;
    this.cancel(txn.expiryTimer);
    txn.expiryTimer = undefined;
    const at = this.now();
    txn.status = 'completed';
    txn.resultCode = resultCode;
    txn.resultDesc = resultDescription(resultCode);
    txn.customerAction = action ?? customerActionFor(resultCode);
    txn.actedAt = at.toISOString();
    if (source) txn.source = source;
    if (callbackMode) txn.callbackMode = callbackMode;
    if (String(resultCode) === '0') txn.receipt = this.ids.receipt(at);
    if (this.#openByPhone.get(txn.phone) === txn.checkoutRequestId) this.#openByPhone.delete(txn.phone);
    this.log('sandbox: customer acted', {
      checkoutRequestId,
      resultCode,
      action: txn.customerAction,
      callback: txn.callbackMode,
    });
    switch (txn.callbackMode) {
      case 'drop':
        break;
      case 'normal':
        this.schedule(0, () => this.sendStkCallback(txn));
        break;
      case 'duplicate':
        this.schedule(0, () => this.sendStkCallback(txn));
        this.schedule(this.options.duplicateCallbackGapMs, () => this.sendStkCallback(txn));
        break;
      case 'late':
        this.schedule(this.options.lateCallbackDelayMs, () => this.sendStkCallback(txn));
        break;
    }
    return true;
  }

  stkCallbackBody(txn: LedgerEntry): object {
    const code =
      typeof txn.resultCode === 'string' && /^\d+$/.test(txn.resultCode)
        ? Number(txn.resultCode)
        : txn.resultCode;
    const base = {
      MerchantRequestID: txn.merchantRequestId,
      CheckoutRequestID: txn.checkoutRequestId,
      ResultCode: code,
      ResultDesc: txn.resultDesc,
    };
    if (String(txn.resultCode) !== '0') return { Body: { stkCallback: base } };
    const acted = txn.actedAt ? new Date(txn.actedAt) : this.now();
    const e = new Date(acted.getTime() + 3 * 3600_000);
    const p = (n: number) => String(n).padStart(2, '0');
    const date = Number(
      `${e.getUTCFullYear()}${p(e.getUTCMonth() + 1)}${p(e.getUTCDate())}${p(e.getUTCHours())}${p(e.getUTCMinutes())}${p(e.getUTCSeconds())}`,
    );
    return {
      Body: {
        stkCallback: {
          ...base,
          CallbackMetadata: {
            // Numbers as numbers, Balance without Value: as real captures (daraja.md §5.1).
            Item: [
              { Name: 'Amount', Value: txn.amount },
              { Name: 'MpesaReceiptNumber', Value: txn.receipt },
              { Name: 'Balance' },
              { Name: 'TransactionDate', Value: date },
              { Name: 'PhoneNumber', Value: Number(txn.phone) },
            ],
          },
        },
      },
    };
  }

  /**
   * POSTs a body to a receiver; failures are logged and recorded, never thrown. `opts.target` adds the
   * target and URL to the recorded attempt; `opts.timeoutMs` (default 10 s) bounds the wait.
   */
  async post(
    url: string,
    body: object,
    record: CallbackAttempt[],
    opts: { target?: TargetedAttempt['target']; timeoutMs?: number } = {},
  ): Promise<PostOutcome> {
    const attempt: CallbackAttempt = { attempt: record.length + 1, at: this.now().toISOString(), ok: false };
    if (opts.target) Object.assign(attempt, { target: opts.target, url });
    record.push(attempt);
    const ac = new AbortController();
    this.#inflight.add(ac);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, opts.timeoutMs ?? 10_000);
    let text: string | undefined;
    try {
      const res = await this.#fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'User-Agent': 'Malipo-Daraja-Simulator' },
        body: JSON.stringify(body),
        signal: ac.signal,
      });
      attempt.httpStatus = res.status;
      attempt.ok = res.status >= 200 && res.status < 300;
      text = await res.text().catch(() => undefined);
    } catch (err) {
      attempt.error =
        err instanceof Error ? `${err.message}${err.cause ? `: ${String(err.cause)}` : ''}` : String(err);
      if (timedOut) attempt.error = `timed out after ${opts.timeoutMs ?? 10_000} ms`;
      this.log('sandbox: callback delivery failed', { url, error: attempt.error });
    } finally {
      clearTimeout(timer);
      this.#inflight.delete(ac);
    }
    return { attempt, text, timedOut };
  }

  async sendStkCallback(txn: LedgerEntry): Promise<void> {
    await this.post(txn.callbackUrl, this.stkCallbackBody(txn), txn.callbacks);
  }

  recordAsync(entry: AsyncLedgerEntry): void {
    this.#async.push(entry);
  }

  findAsync(originatorConversationId: string): AsyncLedgerEntry | undefined {
    return this.#async.find((a) => a.originatorConversationId === originatorConversationId);
  }

  findByReceipt(receipt: string): LedgerEntry | undefined {
    for (const t of this.#txns.values()) if (t.receipt === receipt) return t;
    return undefined;
  }

  recordC2bRegistration(r: C2bRegistration): void {
    this.#c2b.push(r);
  }

  /** The latest registration for a shortcode (latest wins, as re-registering in the sandbox does). */
  c2bRegistrationFor(shortcode: string): C2bRegistration | undefined {
    for (let i = this.#c2b.length - 1; i >= 0; i--)
      if (this.#c2b[i]!.shortcode === shortcode) return this.#c2b[i];
    return undefined;
  }

  recordRejectedAsync(r: RejectedAsyncRequest): void {
    this.#rejectedAsync.push(r);
  }

  // ----- B2C payouts --------------------------------------------------------------------------

  /** Decides how a B2C request to `phone` is handled; draws every B2C fault die in a fixed order. */
  planPayout(phone: string): PayoutPlan {
    const scenario = b2cScenarioFor(phone);
    const f = this.#faults;
    const rolls = {
      error500: this.roll(f.b2cRequestError500),
      queueTimeout: this.roll(f.b2cQueueTimeout),
      drop: this.roll(f.b2cResultDrop),
      duplicate: this.roll(f.b2cResultDuplicate),
    };
    const faults: string[] = [];
    let response: B2cResponseMode = scenario?.response ?? 'accept';
    let result: PayoutPlan['result'] = scenario?.result ?? 'normal';
    if (response === 'accept' && rolls.error500) {
      response = 'error500';
      faults.push('b2cRequestError500');
    }
    if (response !== 'error500' && result === 'normal') {
      if (rolls.queueTimeout) {
        result = 'queue_timeout';
        faults.push('b2cQueueTimeout');
      } else if (rolls.drop) {
        result = 'drop';
        faults.push('b2cResultDrop');
      } else if (rolls.duplicate) {
        result = 'duplicate';
        faults.push('b2cResultDuplicate');
      }
    }
    return {
      response,
      result,
      resultCode: scenario?.resultCode ?? 0,
      source: scenario ? 'scenario' : 'default',
      faults,
    };
  }

  recordPayout(p: PayoutLedgerEntry): PayoutLedgerEntry {
    this.#payouts.push(p);
    return p;
  }

  /** The accepted payout with this OriginatorConversationID (duplicates and 500s are not it). */
  acceptedPayout(originatorConversationId: string): PayoutLedgerEntry | undefined {
    return this.#payouts.find(
      (p) => p.originatorConversationId === originatorConversationId && p.httpStatus === 200,
    );
  }

  payoutByReceipt(receipt: string): PayoutLedgerEntry | undefined {
    return this.#payouts.find((p) => p.receipt === receipt);
  }

  /** Every request sent with this OriginatorConversationID, oldest first (copies). */
  payoutRequests(originatorConversationId: string): PayoutLedgerEntry[] {
    return this.#payouts
      .filter((p) => p.originatorConversationId === originatorConversationId)
      .map(copyPayout);
  }

  recordStatusQuery(q: StatusQueryLedgerEntry): StatusQueryLedgerEntry {
    this.#statusQueries.push(q);
    return q;
  }

  // ----- reversals ---------------------------------------------------------------------------

  recordReversal(r: ReversalLedgerEntry): ReversalLedgerEntry {
    this.#reversals.push(r);
    return r;
  }

  /** KES already reversed of the transaction with this receipt. */
  reversedAmount(originalTransactionId: string): number {
    return this.#reversals
      .filter((r) => r.reversed && r.originalTransactionId === originalTransactionId)
      .reduce((sum, r) => sum + r.amount, 0);
  }

  /** The processed reversal with this OriginatorConversationID or own TransactionID. */
  findReversal(by: {
    originatorConversationId?: string;
    transactionId?: string;
  }): ReversalLedgerEntry | undefined {
    return this.#reversals.find(
      (r) =>
        r.processed &&
        ((by.originatorConversationId !== undefined &&
          r.originatorConversationId === by.originatorConversationId) ||
          (by.transactionId !== undefined && r.transactionId === by.transactionId)),
    );
  }

  /** Every reversal of one original transaction, oldest first (copies). */
  reversalsOf(originalTransactionId: string): ReversalLedgerEntry[] {
    return this.#reversals
      .filter((r) => r.originalTransactionId === originalTransactionId)
      .map((r) => structuredClone(r));
  }

  // ----- C2B payments -------------------------------------------------------------------------

  recordC2bPayment(p: C2bPaymentLedgerEntry): C2bPaymentLedgerEntry {
    this.#c2bPayments.push(p);
    return p;
  }

  c2bPaymentByTransId(transId: string): C2bPaymentLedgerEntry | undefined {
    return this.#c2bPayments.find((p) => p.transId === transId);
  }

  /** Credits an accepted C2B payment to the shortcode's simulated balance; returns the new balance. */
  creditC2b(shortcode: string, amount: number): number {
    const next = (this.#c2bBalances.get(shortcode) ?? 0) + amount;
    this.#c2bBalances.set(shortcode, next);
    return next;
  }

  // ----- reading ------------------------------------------------------------------------------

  /** Prompts still open on a phone, oldest first. */
  openPrompts(phone: string): LedgerEntry[] {
    return [...this.#txns.values()].filter((t) => t.phone === phone && t.status === 'open').map(strip);
  }

  /** Most recent pushes to a phone, newest first. */
  recentPushes(phone: string, limit = 10): LedgerEntry[] {
    return [...this.#txns.values()]
      .filter((t) => t.phone === phone)
      .reverse()
      .slice(0, limit)
      .map(strip);
  }

  entry(checkoutRequestId: string): LedgerEntry | undefined {
    const t = this.#txns.get(checkoutRequestId);
    return t ? strip(t) : undefined;
  }

  ledger(): LedgerSnapshot {
    const pushes = [...this.#txns.values()].map(strip);
    const pushesByPhone: Record<string, number> = {};
    const pushesByAccountReference: Record<string, number> = {};
    for (const p of pushes) {
      pushesByPhone[p.phone] = (pushesByPhone[p.phone] ?? 0) + 1;
      pushesByAccountReference[p.accountReference] = (pushesByAccountReference[p.accountReference] ?? 0) + 1;
    }
    return {
      pushes,
      pushesByPhone,
      pushesByAccountReference,
      rejectedPushes: this.#rejected.map((r) => ({ ...r })),
      requests: { ...this.#requests },
      asyncRequests: this.#async.map((a) => ({ ...a, callbacks: a.callbacks.map((c) => ({ ...c })) })),
      c2bRegistrations: this.#c2b.map((c) => ({ ...c })),
      payouts: this.#payouts.map(copyPayout),
      statusQueries: this.#statusQueries.map((q) => ({
        ...q,
        found: q.found ? { ...q.found } : null,
        callbacks: q.callbacks.map((c) => ({ ...c })),
      })),
      c2bPayments: this.#c2bPayments.map(copyC2b),
      rejectedAsyncRequests: this.#rejectedAsync.map((r) => ({ ...r })),
      reversals: this.#reversals.map((r) => structuredClone(r)),
    };
  }

  get seed(): number {
    return this.#seed;
  }
}

/** What `post()` saw: the recorded attempt, the reply body (if any), whether it timed out. */
export interface PostOutcome {
  attempt: CallbackAttempt;
  text: string | undefined;
  timedOut: boolean;
}

function copyPayout(p: PayoutLedgerEntry): PayoutLedgerEntry {
  return structuredClone(p);
}

function copyC2b(p: C2bPaymentLedgerEntry): C2bPaymentLedgerEntry {
  return structuredClone(p);
}

function strip(t: Txn | LedgerEntry): LedgerEntry {
  const { app: _app, expiryTimer: _timer, ...rest } = t as Txn;
  return { ...rest, callbacks: rest.callbacks.map((c) => ({ ...c })) };
}
