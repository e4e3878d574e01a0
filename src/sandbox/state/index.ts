/**
 * The simulator's state: apps, tokens, open prompts, fault knobs, timers, and the ground-truth ledger
 * that tests and the benchmark read to prove final states and "one push per payment". The ledgers'
 * shapes and the per-API decisions live beside it: stk, b2c, lookups, c2b, reversal (common: shared).
 */
import { checkoutRequestId, createRandom, IdFactory } from '../ids';
import { type CallbackMode, customerActionFor, resultDescription } from '../scenarios';
import { type PayoutLedgerEntry, type PayoutPlan, planPayout } from './b2c';
import type { C2bPaymentLedgerEntry, C2bRegistration } from './c2b';
import {
  type CallbackAttempt,
  DEFAULT_APP,
  type FaultRates,
  NO_FAULTS,
  type PostOutcome,
  type RejectedAsyncRequest,
  type SandboxApp,
  type SandboxOptions,
  type TargetedAttempt,
} from './common';
import type { AsyncLedgerEntry, StatusQueryLedgerEntry } from './lookups';
import type { ReversalLedgerEntry } from './reversal';
import {
  type LedgerEntry,
  type OutcomeOverride,
  type PushPlan,
  planPush,
  type RejectedPush,
  stkCallbackBody,
  strip,
  type Txn,
} from './stk';

export type { PayoutLedgerEntry, PayoutPlan } from './b2c';
export type { C2bPaymentLedgerEntry, C2bRegistration } from './c2b';
export {
  type CallbackAttempt,
  DEFAULT_APP,
  type FaultRates,
  NO_FAULTS,
  type PostOutcome,
  type RejectedAsyncRequest,
  SANDBOX_PASSKEY,
  type SandboxApp,
  type SandboxOptions,
  type TargetedAttempt,
} from './common';
export type { AsyncLedgerEntry, StatusQueryLedgerEntry } from './lookups';
export type { ReversalLedgerEntry } from './reversal';
export type { LedgerEntry, OutcomeOverride, PushPlan, RejectedPush } from './stk';

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
  planPush(phone: string): PushPlan {
    return planPush(phone, this.#phoneOverrides.get(phone), this.#faults, (rate) => this.roll(rate));
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
    await this.post(txn.callbackUrl, stkCallbackBody(txn, this.now), txn.callbacks);
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
    return planPayout(phone, this.#faults, (rate) => this.roll(rate));
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

function copyPayout(p: PayoutLedgerEntry): PayoutLedgerEntry {
  return structuredClone(p);
}

function copyC2b(p: C2bPaymentLedgerEntry): C2bPaymentLedgerEntry {
  return structuredClone(p);
}
