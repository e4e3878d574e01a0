/**
 * Workflow `stkPush`: one M-Pesa STK push payment. Initiate (never twice after an ambiguous send),
 * wait for the callback or a timer-driven STK query, believe carefully, settle exactly once, and
 * keep listening for a late success during a grace window. Workflow id = payment id.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  executeChild,
  log,
  ParentClosePolicy,
  proxyLocalActivities,
  type RetryPolicy,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type {
  FindC2bMatchResult,
  InitiateStkPushResult,
  QueryStkStatusResult,
  RecordPaymentStatusInput,
  StkActivities,
} from '../activities/types';
import type { FirstAttempt, InlineDelivery, WebhookDeliveryActivities } from '../activities/webhook-types';
import {
  canTransition,
  type FailureReason,
  type PaymentStatus,
  type ReviewReason,
} from '../src/domain/payment';
import {
  C2B_MATCH_WINDOW_MS,
  type ManualResolution,
  MPESA_RECEIPT,
  RESOLVE_ERRORS,
  reconcileSchedule,
  type ResolvedBy,
  STK_QUERY_HORIZON_MS,
  sameResolution,
} from '../src/domain/reconciliation';
import { outcomeForResultCode } from '../src/domain/result-codes';
import { MalipoStatus } from '../src/domain/search-attributes';
import type { darajaLookup } from './daraja-lookup';
import type { deliverWebhook } from './webhook-delivery';
import { ensureSearchAttributes } from './search-attributes';
import {
  type DecisionSource,
  resolveStkConfig,
  STK_INITIATION_ERRORS,
  type StkCallbackSignal,
  type StkPaymentState,
  type StkPushInput,
} from '../src/domain/stk';
import { errorMessage, iso } from './helpers';

// ---------------------------------------------------------------------------------------------
// Messages

/** Daraja's callback, parsed by the hook route. Payload: {@link StkCallbackSignal}. */
export const stkCallbackSignal = defineSignal<[StkCallbackSignal]>('stkCallback');
/** The live state of the payment. */
export const paymentStateQuery = defineQuery<StkPaymentState>('paymentState');
/**
 * Resolves once the initiation outcome is known (accepted with a CheckoutRequestID, rejected, or
 * ambiguous) and returns the state. The API sends it with Update-with-Start so its 202 can carry
 * the CheckoutRequestID; it bounds its own wait (a busy phone keeps this open for minutes).
 */
export const awaitInitiationUpdate = defineUpdate<StkPaymentState>('awaitInitiation');
/** Runs an STK query now (when there is a CheckoutRequestID and no success yet) and returns the new state. */
export const refreshUpdate = defineUpdate<StkPaymentState>('refresh');
/**
 * A manual resolution of a `needs_review` payment (POST /v1/payments/:id/resolve). Refused unless the
 * payment is in review (`NotInReview`), or when another resolution was applied (`ResolutionConflict`);
 * the same resolution again is accepted and answers the state. Resolves once the change is recorded.
 */
export const resolveUpdate = defineUpdate<StkPaymentState, [ManualResolution]>('resolve');

// ---------------------------------------------------------------------------------------------
// Activities: timeouts and retry policies, declared once.

/** The push's Temporal retry policy, the same for the regular and the local activity. */
const PUSH_RETRY: RetryPolicy = {
  // Retries exist only for `StkPushNotSent` (provably never reached Daraja): every business outcome
  // is returned, not thrown, and a retried attempt after a timeout/crash must find the activity's
  // "sent" mark and answer `ambiguous` (double-push guard, activities/types.ts). ~30 s in all.
  initialInterval: '2 seconds',
  backoffCoefficient: 2,
  maximumInterval: '15 seconds',
  maximumAttempts: 5,
  nonRetryableErrorTypes: [STK_INITIATION_ERRORS.misconfigured],
};
/**
 * One attempt must outlive the Daraja client's own request timeout (MALIPO_DARAJA_TIMEOUT_MS, 30 s by
 * default, 50 s at most), so the activity itself reports a timeout-after-send as `ambiguous` rather
 * than Temporal timing it out.
 */
const PUSH_ATTEMPT_TIMEOUT = '60 seconds';

/**
 * The push as a local activity: the first workflow task runs it in the worker, so the
 * `awaitInitiation` update (the POST's answer) completes in that same task, and the history keeps
 * one marker instead of three activity events and a workflow task. Same retry policy and attempt
 * timeout; an attempt longer than the workflow task timeout is kept alive by the SDK's task
 * heartbeats. A back-off of more than 10 s (only the last, 15 s) becomes a durable timer instead
 * of a sleep in the worker. The double-push guard is the activity's own mark, so a re-run attempt
 * (a retry, or a task replayed after a crash) answers `ambiguous` instead of sending again.
 */
const { initiateStkPush } = proxyLocalActivities<StkActivities>({
  startToCloseTimeout: PUSH_ATTEMPT_TIMEOUT,
  localRetryThreshold: '10 seconds',
  retry: PUSH_RETRY,
});

const { queryStkStatus } = proxyLocalActivities<StkActivities>({
  // A short read-only call: a local activity costs one marker event instead of three events and a
  // workflow task. Outlives the client's 30 s timeout; one quick retry, then the workflow's own
  // timer loop decides when to ask again.
  startToCloseTimeout: '45 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 2 },
});

const { findC2bMatch } = proxyLocalActivities<StkActivities>({
  // One indexed read and at most a few single-row writes: local, a few quick retries, then the next
  // reconciliation attempt asks again.
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 3 },
});

const { recordPaymentStatus } = proxyLocalActivities<StkActivities>({
  // Idempotent by (paymentId, version) and short, so local; the projection must land eventually,
  // so retry without limit, backing off to a minute: a DB outage delays the write, never loses it.
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

const { attemptDelivery } = proxyLocalActivities<WebhookDeliveryActivities>({
  // The first attempt of each webhook of a change, inline (one signed POST of at most 15 s and its
  // row); our own fault (the database) gets one quick retry, then the delivery workflow takes over.
  startToCloseTimeout: '45 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 2 },
});

// ---------------------------------------------------------------------------------------------

type InitiationResult = 'accepted' | 'ambiguous' | 'rejected';

interface StatusChange {
  status: PaymentStatus;
  decidedBy: DecisionSource;
  message: string;
  failureReason?: FailureReason;
  reviewReason?: ReviewReason;
  resultCode?: string | undefined;
  resultDesc?: string | undefined;
  mpesaReceipt?: string | undefined;
  transactionDate?: string | undefined;
  /** Who takes the payment out of `needs_review`; `reconciliation` when unset. */
  resolvedBy?: ResolvedBy;
  /** A manual resolution's who and why, for the audit row. */
  resolution?: Pick<ManualResolution, 'actor' | 'note' | 'requestId'>;
}

/** Review reasons Daraja can still answer; an amount mismatch is an operator's call. */
const RECONCILABLE: readonly ReviewReason[] = [
  'ambiguous_initiation',
  'unknown_result_code',
  'unconfirmed_success',
];
/** Review reasons where the customer may have paid the paybill directly instead of the prompt. */
const C2B_MATCHABLE: readonly ReviewReason[] = ['ambiguous_initiation', 'unknown_result_code'];

/**
 * How long one reconciliation Transaction Status lookup waits for Daraja's Result: Results usually come
 * within seconds; a later one is not waited for (the next scheduled attempt asks again).
 */
const LOOKUP_WAIT_MS = 60_000;

/** A success callback waiting for an STK query to confirm it. */
interface SuccessClaim {
  cb: StkCallbackSignal;
  queries: number;
}

export async function stkPush(input: StkPushInput): Promise<StkPaymentState> {
  const cfg = resolveStkConfig(input.config);
  validateInput(input);

  const state: StkPaymentState = {
    paymentId: input.paymentId,
    status: 'pending',
    initiation: 'pending',
    amount: input.amount,
    phone: input.phone,
    reference: input.reference,
    initiationAttempts: 0,
    queries: 0,
    version: 0,
  };
  const snapshot = (): StkPaymentState => ({ ...state });

  /** Callbacks received and not yet judged; judged in order by the main loop only. */
  const inbox: StkCallbackSignal[] = [];
  /** Fingerprints of callbacks already judged. */
  const seen = new Set<string>();
  let claim: SuccessClaim | undefined;
  let deadline = Number.POSITIVE_INFINITY;
  let graceUntil: number | undefined;
  let nextQueryAt: number | undefined;
  let queryInterval = cfg.firstQueryDelayMs;
  let queryErrors = 0;
  /** After a timeout nobody answered, keep asking Daraja until it gives a final answer. */
  let reconcileUntilFinal = false;
  /** Workflow time of the start: the earliest a C2B confirmation may be this payment. */
  const startedAt = Date.now();
  /** The success callback a review was raised on: its receipt, should Daraja later confirm it. */
  let reviewedClaim: StkCallbackSignal | undefined;
  /** The manual resolution accepted, and whether the main flow applied or refused it. */
  let manual: ManualResolution | undefined;
  let manualOutcome: 'applied' | 'refused' | undefined;
  /** Set once the run is about to end: a resolution then goes straight to the database. */
  let closing = false;
  /** Reconciliation attempts made (numbers the Transaction Status lookups). */
  let attempts = 0;

  // ---- handlers -----------------------------------------------------------------------------

  setHandler(stkCallbackSignal, (cb) => {
    // Rule: a signal cannot be refused, so a malformed payload is dropped here rather than allowed
    // to throw later (a plain error would fail the workflow task forever).
    if (
      cb === null ||
      typeof cb !== 'object' ||
      typeof cb.checkoutRequestId !== 'string' ||
      (typeof cb.resultCode !== 'string' && typeof cb.resultCode !== 'number')
    ) {
      log.warn('stkCallback ignored: malformed payload');
      return;
    }
    inbox.push({ ...cb, resultCode: String(cb.resultCode), resultDesc: String(cb.resultDesc ?? '') });
  });

  setHandler(paymentStateQuery, snapshot);

  setHandler(awaitInitiationUpdate, async () => {
    await condition(() => state.initiation !== 'pending');
    return snapshot();
  });

  setHandler(
    resolveUpdate,
    async (r) => {
      // Rule: the main flow applies it, between its own steps, so it never interleaves with another settle.
      manual ??= {
        status: r.status,
        ...(r.status === 'success' ? { mpesaReceipt: r.mpesaReceipt } : {}),
        note: r.note,
        actor: r.actor,
        ...(r.requestId !== undefined ? { requestId: r.requestId } : {}),
      };
      await condition(() => manualOutcome !== undefined);
      if (manualOutcome === 'refused') {
        throw ApplicationFailure.nonRetryable(
          `payment ${input.paymentId} is ${state.status}, not needs_review`,
          RESOLVE_ERRORS.notInReview,
        );
      }
      return snapshot();
    },
    {
      validator: (r) => {
        // Rule: an update can be refused, so anything the API would not send is refused here, unrecorded.
        if (
          r === null ||
          typeof r !== 'object' ||
          (r.status !== 'success' && r.status !== 'failed') ||
          typeof r.note !== 'string' ||
          typeof r.actor !== 'string' ||
          (r.status === 'success' &&
            (typeof r.mpesaReceipt !== 'string' || !MPESA_RECEIPT.test(r.mpesaReceipt)))
        ) {
          throw ApplicationFailure.nonRetryable('invalid resolution', 'InvalidResolution');
        }
        if (manual !== undefined) {
          if (!sameResolution(r, manual)) {
            throw ApplicationFailure.nonRetryable(
              `payment ${input.paymentId} was already resolved ${manual.status}`,
              RESOLVE_ERRORS.conflict,
            );
          }
          return;
        }
        if (closing)
          throw ApplicationFailure.nonRetryable('the payment workflow is ending', RESOLVE_ERRORS.closing);
        if (state.status !== 'needs_review') {
          throw ApplicationFailure.nonRetryable(
            `payment ${input.paymentId} is ${state.status}, not needs_review`,
            RESOLVE_ERRORS.notInReview,
          );
        }
      },
    },
  );

  setHandler(refreshUpdate, async () => {
    // Rule: a query needs a CheckoutRequestID, and a success is final, so otherwise answer as is.
    if (state.status !== 'success' && state.checkoutRequestId !== undefined) {
      await applyQueryAnswer(await runQuery());
    }
    return snapshot();
  });

  // ---- main flow ----------------------------------------------------------------------------

  ensureSearchAttributes(input);

  const initiated = await initiate();
  // Rule: a local activity's result is durable only once its workflow task completes, and a task
  // that completes the run is refused if a message arrived meanwhile; the retried task would run
  // the push again, and its mark would turn a rejection into `ambiguous`. So a run ended by its
  // push commits that task first.
  if (initiated === 'rejected') await sleep(1);
  if (initiated !== 'rejected') {
    // Rule: the deadline counts from acceptance (or the ambiguous send), not from the POST, so
    // phone-busy back-offs do not eat into the customer's time to answer.
    const acceptedAt = Date.now();
    deadline = acceptedAt + cfg.deadlineMs;
    state.acceptedAt = iso(acceptedAt);
    state.deadlineAt = iso(deadline);
    if (initiated === 'accepted') {
      nextQueryAt = acceptedAt + cfg.firstQueryDelayMs;
      // Rule: record the acceptance so the payments row has the CheckoutRequestID even when the
      // API answered before Daraja did.
      state.version++;
      await record('Daraja accepted the push; waiting for the customer.', 'initiation');
    }
    await listen();
    // Rule: a review Daraja can still answer keeps asking it, on a slow schedule, up to a horizon.
    if (
      manual === undefined &&
      state.status === 'needs_review' &&
      RECONCILABLE.includes(state.reviewReason!)
    ) {
      await reconcileReview();
    }
    if (manual !== undefined) await applyManual();
  }

  closing = true;
  await condition(allHandlersFinished);
  return snapshot();

  // ---- initiation ---------------------------------------------------------------------------

  async function initiate(): Promise<InitiationResult> {
    let firstBusyAt: number | undefined;
    let busyDelay = cfg.phoneBusyInitialDelayMs;
    let transientRetries = 0;
    let transientDelay = cfg.transientRetryInitialDelayMs;
    for (;;) {
      state.initiationAttempts++;
      const r = await pushOnce(state.initiationAttempts);
      switch (r.kind) {
        case 'accepted':
          state.initiation = 'accepted';
          state.checkoutRequestId = r.checkoutRequestId;
          state.merchantRequestId = r.merchantRequestId;
          state.message = 'Daraja accepted the push; waiting for the customer.';
          return 'accepted';
        case 'ambiguous':
          // Rule: the push may have reached Daraja, so it is NEVER sent again; the callback (its
          // URL names this payment) or the deadline decides.
          state.initiation = 'ambiguous';
          state.message = `The push may have reached M-Pesa (${r.reason}); waiting for its callback.`;
          return 'ambiguous';
        case 'not_sent':
          // Rule: the activity proved nothing was sent, so no prompt can exist and money cannot move.
          state.initiation = 'rejected';
          await settle({
            status: 'failed',
            failureReason: 'rejected',
            decidedBy: 'initiation',
            message: `Malipo could not send the push to M-Pesa: ${r.message}`,
          });
          return 'rejected';
        case 'rejected': {
          if (r.phoneBusy) {
            // Rule: "unable to lock subscriber" is a definitive "not now" (no prompt was shown), so a
            // re-push is safe: back off 20 s, 40 s, 80 s … until phoneBusyMaxTotalMs, then give up.
            firstBusyAt ??= Date.now();
            const remaining = firstBusyAt + cfg.phoneBusyMaxTotalMs - Date.now();
            if (remaining > 0) {
              await sleep(Math.min(busyDelay, remaining));
              busyDelay *= 2;
              continue;
            }
            state.initiation = 'rejected';
            await settle({
              status: 'failed',
              failureReason: 'phone_busy',
              decidedBy: 'initiation',
              resultCode: r.code,
              resultDesc: r.message,
              message: 'Another M-Pesa prompt stayed open on the phone for too long.',
            });
            return 'rejected';
          }
          if (r.transient && transientRetries < cfg.transientRetryMaxAttempts) {
            // Rule: spike arrest / rate limiting is a definitive refusal of this request only, so a
            // bounded number of re-pushes with doubling back-off is safe.
            transientRetries++;
            await sleep(transientDelay);
            transientDelay *= 2;
            continue;
          }
          // Rule: a validation rejection (or transient ones that never cleared) fails at once with Daraja's words.
          state.initiation = 'rejected';
          await settle({
            status: 'failed',
            failureReason: 'rejected',
            decidedBy: 'initiation',
            resultCode: r.code,
            resultDesc: r.message,
            message: `M-Pesa rejected the push: ${r.message}`,
          });
          return 'rejected';
        }
      }
    }
  }

  async function pushOnce(
    pushNumber: number,
  ): Promise<InitiateStkPushResult | { kind: 'not_sent'; message: string }> {
    try {
      return await initiateStkPush({
        paymentId: input.paymentId,
        merchantId: input.merchantId,
        channelId: input.channelId,
        environment: input.environment,
        amount: input.amount,
        phone: input.phone,
        reference: input.reference,
        description: input.description,
        pushNumber,
      });
    } catch (err) {
      // Rule: only the two error types the activity uses for "never sent" prove no push exists;
      // anything else (a timeout, a crash, an unexpected error) may have reached Daraja: ambiguous.
      // (A local activity's failure may arrive as the activity's own ApplicationFailure, unwrapped.)
      const cause = err instanceof ActivityFailure ? err.cause : err;
      if (
        cause instanceof ApplicationFailure &&
        (cause.type === STK_INITIATION_ERRORS.notSent || cause.type === STK_INITIATION_ERRORS.misconfigured)
      ) {
        return { kind: 'not_sent', message: cause.message };
      }
      return { kind: 'ambiguous', reason: errorMessage(err) };
    }
  }

  // ---- waiting ------------------------------------------------------------------------------

  async function listen(): Promise<void> {
    for (;;) {
      if (manual !== undefined) return;
      while (inbox.length > 0) await judgeCallback(inbox.shift()!);
      // Rule: nothing moves a payment out of success, so there is nothing left to decide; but a
      // success the STK query settled has no receipt yet, and its callback carries one.
      if (state.status === 'success') {
        if (state.mpesaReceipt === undefined) await awaitReceipt();
        return;
      }

      const now = Date.now();
      if (graceUntil === undefined) {
        if (state.status !== 'pending') {
          startGrace();
          continue;
        }
        if (now >= deadline) {
          await onDeadline();
          continue;
        }
      } else if (now >= graceUntil) {
        // Rule: a success claim still unconfirmed when we stop listening means money may have moved.
        if (claim) await reviewClaim('could not be confirmed before the grace window closed');
        return;
      }

      const due = queryDueAt();
      if (due !== undefined && now >= due) {
        await timedQuery();
        continue;
      }
      const wakeAt = Math.min(graceUntil ?? deadline, due ?? Number.POSITIVE_INFINITY);
      const version = state.version;
      await condition(
        () => inbox.length > 0 || state.version !== version || manual !== undefined,
        Math.max(1, wakeAt - now),
      );
    }
  }

  // ---- reconciling a review -------------------------------------------------------------------

  /**
   * After the grace window, a payment still in review asks again on RECONCILE_SCHEDULE_MS (scaled by
   * cfg.reconcileScheduleScale, 1 in production; counted from
   * here), judging any late callback as it comes, until Daraja answers, a person resolves it, or the
   * schedule ends (then it stays needs_review and the run ends).
   */
  async function reconcileReview(): Promise<void> {
    const since = Date.now();
    for (const offset of reconcileSchedule(cfg.reconcileScheduleScale)) {
      const at = since + offset;
      for (;;) {
        while (inbox.length > 0 && manual === undefined) await judgeCallback(inbox.shift()!);
        if (manual !== undefined || state.status !== 'needs_review') return;
        const now = Date.now();
        if (now >= at) break;
        await condition(() => inbox.length > 0 || manual !== undefined, at - now);
      }
      await reconcileOnce();
      if (manual !== undefined || state.status !== 'needs_review') return;
    }
  }

  /**
   * One reconciliation attempt: the STK query while Daraja still answers it, Transaction Status for
   * a success callback's receipt under review, then a C2B match.
   */
  async function reconcileOnce(): Promise<void> {
    attempts++;
    const pushedAt = state.acceptedAt === undefined ? startedAt : Date.parse(state.acceptedAt);
    if (state.checkoutRequestId !== undefined && Date.now() - pushedAt < STK_QUERY_HORIZON_MS) {
      const answer = await runQuery();
      if (manual !== undefined) return;
      if (claim) await applyQueryAnswer(answer);
      else if (answer.kind === 'final') await applyReconciledAnswer(answer.resultCode, answer.resultDesc);
      if (manual !== undefined || state.status !== 'needs_review') return;
    }
    const receipt = reviewedClaim?.receipt;
    if (state.reviewReason === 'unconfirmed_success' && receipt !== undefined && receipt !== '') {
      await lookUpReceipt(receipt);
      if (manual !== undefined || state.status !== 'needs_review') return;
    }
    if (!C2B_MATCHABLE.includes(state.reviewReason!)) return;
    let match: FindC2bMatchResult;
    try {
      match = await findC2bMatch({
        paymentId: input.paymentId,
        channelId: input.channelId,
        phone: input.phone,
        amount: input.amount,
        reference: input.reference,
        from: iso(startedAt),
        to: iso(startedAt + C2B_MATCH_WINDOW_MS),
      });
    } catch (err) {
      // Rule: a failing lookup is "no answer yet", never a decision.
      log.warn('C2B match failed; the next attempt asks again', { error: errorMessage(err) });
      return;
    }
    if (!match.found || manual !== undefined || state.status !== 'needs_review') return;
    state.matchedC2bPaymentId = match.c2bPaymentId;
    await settle({
      status: 'success',
      decidedBy: 'reconciliation',
      mpesaReceipt: match.mpesaReceipt,
      transactionDate: match.transactionDate,
      message: `The customer paid the paybill directly (C2B payment ${match.c2bPaymentId}, receipt ${match.mpesaReceipt}).`,
    });
  }

  /**
   * Asks Transaction Status about the receipt a reviewed success callback named (the lookup workflow,
   * as a child: its Result reaches it through the lookup hook). Only a `Completed` transaction for the
   * payment's amount settles success; anything else (not found, another amount, no answer) waits for the
   * next attempt, because a failed lookup proves nothing about money.
   */
  async function lookUpReceipt(receipt: string): Promise<void> {
    let answer: Awaited<ReturnType<typeof darajaLookup>>;
    try {
      answer = await executeChild<typeof darajaLookup>('darajaLookup', {
        // deterministic and unique per attempt; the lookup hook signals it by this id
        workflowId: `lkp_${input.paymentId.replace(/^pay_/, '')}r${attempts}`,
        args: [
          {
            lookupId: `lkp_${input.paymentId.replace(/^pay_/, '')}r${attempts}`,
            merchantId: input.merchantId,
            kind: 'transaction_status',
            channelId: input.channelId,
            environment: input.environment,
            receipt,
            waitMs: LOOKUP_WAIT_MS,
          },
        ],
      });
    } catch (err) {
      log.warn('Transaction Status lookup failed; the next attempt asks again', { error: errorMessage(err) });
      return;
    }
    const t = answer.transaction;
    if (
      answer.status !== 'completed' ||
      t?.status?.trim().toLowerCase() !== 'completed' ||
      t.amount === undefined ||
      Math.round(t.amount) !== input.amount
    ) {
      return;
    }
    await settle({
      status: 'success',
      decidedBy: 'reconciliation',
      mpesaReceipt: receipt,
      transactionDate: reviewedClaim?.transactionDate,
      message: `The customer paid; Transaction Status confirmed receipt ${receipt}.`,
    });
  }

  /** A final STK query answer for a payment in review (no success claim pending). */
  async function applyReconciledAnswer(resultCode: string, resultDesc: string): Promise<void> {
    const outcome = outcomeForResultCode(resultCode);
    switch (outcome.kind) {
      case 'success':
        // Rule: Daraja's own final answer for our CheckoutRequestID; a reviewed success callback's receipt joins it.
        await settle({
          status: 'success',
          decidedBy: 'query',
          resultCode,
          resultDesc,
          mpesaReceipt: reviewedClaim?.receipt,
          transactionDate: reviewedClaim?.transactionDate,
          message: 'The customer paid; the STK query confirmed it on reconciliation.',
        });
        return;
      case 'failed':
        // Rule: a success callback carries a receipt, so a query that contradicts it is no proof nothing moved.
        if (state.reviewReason === 'unconfirmed_success') return;
        await settle({
          status: 'failed',
          failureReason: outcome.reason ?? 'rejected',
          decidedBy: 'query',
          resultCode,
          resultDesc,
          message: `${outcome.message} (the STK query answered on reconciliation)`,
        });
        return;
      case 'unknown':
        // Rule: an unknown code never decides; the next attempt asks again.
        return;
    }
  }

  /** Applies the accepted manual resolution, or refuses it when the payment left review meanwhile. */
  async function applyManual(): Promise<void> {
    const r = manual!;
    if (state.status !== 'needs_review') {
      manualOutcome = 'refused';
      return;
    }
    await settle({
      status: r.status,
      decidedBy: 'manual',
      resolvedBy: 'manual',
      failureReason: 'reviewed',
      mpesaReceipt: r.status === 'success' ? r.mpesaReceipt : undefined,
      message:
        r.status === 'success'
          ? `Resolved manually: the customer paid (receipt ${r.mpesaReceipt}).`
          : 'Resolved manually: no money moved.',
      resolution: {
        actor: r.actor,
        note: r.note,
        ...(r.requestId !== undefined ? { requestId: r.requestId } : {}),
      },
    });
    manualOutcome = 'applied';
  }

  /**
   * After a success settled by the STK query (which carries no receipt), listen for the grace
   * window for the success callback and record its receipt. The status stays `success` and no new
   * event is created; only the payment row gains `mpesaReceipt` and `transactionDate`.
   */
  async function awaitReceipt(): Promise<void> {
    const until = Date.now() + cfg.graceMs;
    state.graceUntil = iso(until);
    for (;;) {
      while (inbox.length > 0) {
        const cb = inbox.shift()!;
        // Rule: only a success callback for this push, for this amount, may complete the receipt.
        if (
          cb.checkoutRequestId === state.checkoutRequestId &&
          outcomeForResultCode(cb.resultCode).kind === 'success' &&
          typeof cb.receipt === 'string' &&
          cb.receipt !== '' &&
          (cb.amount === undefined || Math.round(cb.amount) === input.amount)
        ) {
          state.mpesaReceipt = cb.receipt;
          if (cb.transactionDate !== undefined) state.transactionDate = cb.transactionDate;
          state.version++;
          await record('The success callback brought the M-Pesa receipt.', 'callback');
          return;
        }
      }
      const now = Date.now();
      if (now >= until) return;
      await condition(() => inbox.length > 0, until - now);
    }
  }

  function startGrace(): void {
    // Rule: whatever did not succeed keeps listening for a late callback for graceMs; a confirmed
    // late success still wins.
    graceUntil = (state.settledAt ? Date.parse(state.settledAt) : Date.now()) + cfg.graceMs;
    state.graceUntil = iso(graceUntil);
  }

  /** When the next STK query should run, if any. */
  function queryDueAt(): number | undefined {
    if (state.checkoutRequestId === undefined) return undefined;
    // Rule: a success claim is re-checked soon, in the wait and in the grace window alike.
    if (claim) return nextQueryAt;
    // Rule: a timeout is our guess, and callbacks can be lost: until Daraja's query gives a final
    // answer, it is asked again through the grace window.
    if (reconcileUntilFinal && graceUntil !== undefined) return nextQueryAt;
    // Rule: after a decision (or once errors exceed the bound) only callbacks are awaited.
    if (graceUntil !== undefined || state.status !== 'pending' || queryErrors >= cfg.maxQueryErrors)
      return undefined;
    return nextQueryAt;
  }

  async function timedQuery(): Promise<void> {
    const answer = await runQuery();
    if (answer.kind === 'final') reconcileUntilFinal = false;
    await applyQueryAnswer(answer);
    // Rule: "being processed" or an error → ask again later, backing off 20 s, 30 s, 45 s … capped.
    queryInterval = Math.min(queryInterval * cfg.queryBackoffCoefficient, cfg.maxQueryIntervalMs);
    nextQueryAt = claim ? Date.now() + cfg.confirmRetryDelayMs : Date.now() + queryInterval;
  }

  async function onDeadline(): Promise<void> {
    if (claim) {
      await reviewClaim('could not be confirmed before the deadline');
      return;
    }
    if (state.checkoutRequestId === undefined) {
      // Rule: an ambiguous push nobody ever answered may still have charged the customer.
      await settle({
        status: 'needs_review',
        reviewReason: 'ambiguous_initiation',
        decidedBy: 'deadline',
        message: 'The push may have reached M-Pesa, and no answer came before the deadline.',
      });
      return;
    }
    if (queryErrors < cfg.maxQueryErrors) {
      // Rule: one last query at the deadline, so a payment is never timed out on a stale answer.
      await applyQueryAnswer(await runQuery());
      if (state.status !== 'pending' || claim) return;
    }
    // Rule: Daraja accepted the push and nothing claimed success: without a success the customer
    // cannot have paid, so this is a failure (a late success in the grace window still wins).
    await settle({
      status: 'failed',
      failureReason: 'timeout',
      decidedBy: 'deadline',
      message: 'The customer did not complete the payment before the deadline.',
    });
    reconcileUntilFinal = true;
    nextQueryAt = Date.now() + queryInterval;
  }

  // ---- believing ----------------------------------------------------------------------------

  async function judgeCallback(cb: StkCallbackSignal): Promise<void> {
    const fingerprint = JSON.stringify([
      cb.checkoutRequestId,
      cb.resultCode,
      cb.resultDesc,
      cb.amount ?? null,
      cb.receipt ?? null,
      cb.transactionDate ?? null,
      cb.phone ?? null,
    ]);
    // Rule: an identical repeat is a duplicate delivery and says nothing new.
    if (seen.has(fingerprint)) return;
    seen.add(fingerprint);
    // Rule: nothing moves a payment out of success.
    if (state.status === 'success') return;

    if (state.checkoutRequestId === undefined) {
      // Rule: the hook URL names this payment, so after an ambiguous push the first callback tells
      // us the CheckoutRequestID; adopt it (and from then on ignore others).
      if (state.initiation !== 'ambiguous') return;
      state.checkoutRequestId = cb.checkoutRequestId;
      state.merchantRequestId = cb.merchantRequestId;
    } else if (cb.checkoutRequestId !== state.checkoutRequestId) {
      // Rule: a callback about another push (stale or forged) says nothing about this one.
      log.warn('stkCallback ignored: foreign CheckoutRequestID', { got: cb.checkoutRequestId });
      return;
    }

    const outcome = outcomeForResultCode(cb.resultCode);
    if (outcome.kind === 'success') {
      await believeSuccess(cb);
      return;
    }
    // Rule: while a success claim awaits its query, a conflicting failure hint does not override it; the query decides.
    if (claim) return;
    await applyAnswer(cb.resultCode, cb.resultDesc, 'callback');
  }

  async function believeSuccess(cb: StkCallbackSignal): Promise<void> {
    const paid = {
      resultCode: cb.resultCode,
      resultDesc: cb.resultDesc,
      mpesaReceipt: cb.receipt,
      transactionDate: cb.transactionDate,
    };
    // Rule: a receipt becomes the payment's only once the success is believed; a claim under review
    // names its receipt in the message only, so a forged callback can never plant one.
    const claimed = { resultCode: cb.resultCode, resultDesc: cb.resultDesc };
    // Rule: the amount paid must be the amount asked; any other amount is never silently accepted.
    if (cb.amount !== undefined && cb.amount !== input.amount) {
      claim = undefined;
      await settle({
        ...claimed,
        status: 'needs_review',
        reviewReason: 'amount_mismatch',
        decidedBy: 'callback',
        message: `M-Pesa reported ${cb.amount} KES paid for a ${input.amount} KES payment (receipt ${cb.receipt ?? 'none'}).`,
      });
      return;
    }
    if (!cfg.confirmSuccessByQuery) {
      // Rule: without query confirmation, a success hint with no amount cannot be checked at all.
      if (cb.amount === undefined) {
        await settle({
          ...claimed,
          status: 'needs_review',
          reviewReason: 'unconfirmed_success',
          decidedBy: 'callback',
          message: 'A success callback without an amount, and confirmation by query is off.',
        });
        return;
      }
      await settle({ ...paid, status: 'success', decidedBy: 'callback', message: 'The customer paid.' });
      return;
    }
    // Rule: callbacks are unsigned hints; a success is believed only once Daraja's STK query agrees.
    claim = { cb, queries: 0 };
    await applyQueryAnswer(await runQuery());
    if (claim) nextQueryAt = Date.now() + cfg.confirmRetryDelayMs;
  }

  async function reviewClaim(why: string, cb: StkCallbackSignal | undefined = claim?.cb): Promise<void> {
    claim = undefined;
    if (!cb) return;
    reviewedClaim = cb;
    await settle({
      status: 'needs_review',
      reviewReason: 'unconfirmed_success',
      decidedBy: 'callback',
      resultCode: cb.resultCode,
      resultDesc: cb.resultDesc,
      message: `A success callback (receipt ${cb.receipt ?? 'none'}) ${why}.`,
    });
  }

  async function runQuery(): Promise<QueryStkStatusResult> {
    const checkoutRequestId = state.checkoutRequestId;
    if (checkoutRequestId === undefined) return { kind: 'unavailable', message: 'no CheckoutRequestID yet' };
    state.queries++;
    try {
      return await queryStkStatus({
        paymentId: input.paymentId,
        channelId: input.channelId,
        environment: input.environment,
        checkoutRequestId,
      });
    } catch (err) {
      // Rule: a failing query is "no answer yet", never a decision.
      return { kind: 'unavailable', message: errorMessage(err) };
    }
  }

  async function applyQueryAnswer(answer: QueryStkStatusResult): Promise<void> {
    if (answer.kind !== 'final') {
      if (answer.kind === 'unavailable') queryErrors++;
      if (claim) {
        claim.queries++;
        if (claim.queries >= cfg.maxConfirmQueries) await reviewClaim('could not be confirmed by STK query');
      }
      return;
    }
    if (claim) {
      const cb = claim.cb;
      claim = undefined;
      if (outcomeForResultCode(answer.resultCode).kind === 'success') {
        await settle({
          status: 'success',
          decidedBy: 'callback',
          resultCode: cb.resultCode,
          resultDesc: cb.resultDesc,
          mpesaReceipt: cb.receipt,
          transactionDate: cb.transactionDate,
          message: 'The customer paid; the STK query confirmed the callback.',
        });
        return;
      }
      // Rule: a success callback carries a receipt, so a query that contradicts it (Daraja's sandbox
      // query is known to misreport) means money may have moved: review, never a plain failure.
      await reviewClaim(`was contradicted by the STK query (${answer.resultCode}: ${answer.resultDesc})`, cb);
      return;
    }
    await applyAnswer(answer.resultCode, answer.resultDesc, 'query');
  }

  /** A final answer from Daraja with no success claim pending: map it through the one result-code table. */
  async function applyAnswer(
    resultCode: string,
    resultDesc: string,
    source: 'callback' | 'query',
  ): Promise<void> {
    const outcome = outcomeForResultCode(resultCode);
    // Rule: our own deadline's verdict (timeout, ambiguous) is a guess; Daraja's answer replaces it.
    const guessed = state.status === 'pending' || state.decidedBy === 'deadline';
    switch (outcome.kind) {
      case 'success':
        // Rule: a query's success is Daraja's own final answer for our CheckoutRequestID (whose amount
        // we sent), so it needs no confirmation (it carries no receipt); but it never clears a review
        // that a callback raised (mismatch, contradiction, unknown code): an operator decides those.
        if (state.status === 'needs_review' && !guessed) return;
        await settle({
          status: 'success',
          decidedBy: source,
          resultCode,
          resultDesc,
          message: 'The customer paid; confirmed by STK query.',
        });
        return;
      case 'failed':
        // Rule: a settled payment moves on a failure answer only from a deadline's needs_review
        // (money turned out not to have moved); a failed payment stays as first reported.
        if (!(state.status === 'pending' || (state.status === 'needs_review' && guessed))) return;
        await settle({
          status: 'failed',
          failureReason: outcome.reason ?? 'rejected',
          decidedBy: source,
          resultCode,
          resultDesc,
          message: outcome.message,
        });
        return;
      case 'unknown':
        if (!guessed) return;
        // Rule: an unknown code never becomes a plain failure; money may have moved.
        await settle({
          status: 'needs_review',
          reviewReason: 'unknown_result_code',
          decidedBy: source,
          resultCode,
          resultDesc,
          message: outcome.message,
        });
        return;
    }
  }

  // ---- settling -----------------------------------------------------------------------------

  async function settle(change: StatusChange): Promise<void> {
    // Rule: the status machine (src/domain/payment.ts) is the only judge of legal moves; nothing leaves success.
    if (!canTransition(state.status, change.status)) return;
    // Rule: whatever takes a payment out of review is recorded with it (the event's `resolvedBy`).
    if (state.status === 'needs_review' && change.status !== 'needs_review') {
      state.resolvedBy = change.resolvedBy ?? 'reconciliation';
    }
    state.status = change.status;
    state.decidedBy = change.decidedBy;
    state.message = change.message;
    state.failureReason = change.status === 'failed' ? change.failureReason : undefined;
    state.reviewReason = change.status === 'needs_review' ? change.reviewReason : undefined;
    if (change.resultCode !== undefined) state.resultCode = change.resultCode;
    if (change.resultDesc !== undefined) state.resultDesc = change.resultDesc;
    if (change.mpesaReceipt !== undefined) state.mpesaReceipt = change.mpesaReceipt;
    if (change.transactionDate !== undefined) state.transactionDate = change.transactionDate;
    state.settledAt = iso(Date.now());
    state.version++;
    // Rule: the UI filters on MalipoStatus, so it follows every change.
    upsertSearchAttributes([{ key: MalipoStatus, value: change.status }]);
    await record(change.message, change.decidedBy, change.resolution);
  }

  async function record(
    reason: string,
    decidedBy: DecisionSource,
    resolution?: StatusChange['resolution'],
  ): Promise<void> {
    const snap: RecordPaymentStatusInput = {
      paymentId: state.paymentId,
      version: state.version,
      status: state.status,
      initiation: state.initiation,
      checkoutRequestId: state.checkoutRequestId,
      merchantRequestId: state.merchantRequestId,
      mpesaReceipt: state.mpesaReceipt,
      transactionDate: state.transactionDate,
      resultCode: state.resultCode,
      resultDesc: state.resultDesc,
      failureReason: state.failureReason,
      reviewReason: state.reviewReason,
      decidedBy,
      resolvedBy: state.resolvedBy,
      matchedC2bPaymentId: state.matchedC2bPaymentId,
      ...(resolution !== undefined ? { resolution } : {}),
      reason,
      changedAt: iso(Date.now()),
    };
    const recorded = await recordPaymentStatus(snap);
    await Promise.all((recorded.deliveries ?? []).map(deliverFirst));
  }

  /**
   * One delivery of a change's event: the first attempt here, as a local activity, so a healthy
   * receiver costs no workflow of its own; a failed attempt hands the rest of the schedule to a
   * `deliverWebhook` child (same delivery row, so same event id and body). Rule: the hand-off is a
   * command of the task that records the attempt's marker, so a worker dying in between loses
   * neither: the task is retried whole and attempts again.
   */
  async function deliverFirst(d: InlineDelivery): Promise<void> {
    let first: FirstAttempt | undefined;
    const at = iso(Date.now());
    try {
      const result = await attemptDelivery({ deliveryId: d.input.deliveryId, attempt: 1 });
      if (result.outcome === 'succeeded') return;
      first = { at, result };
    } catch (err) {
      // the attempt was not made (our side failed twice): the delivery workflow makes it
      log.warn('inline webhook attempt not made', {
        deliveryId: d.input.deliveryId,
        error: errorMessage(err),
      });
    }
    try {
      await startChild<typeof deliverWebhook>('deliverWebhook', {
        workflowId: d.workflowId,
        args: [{ ...d.input, ...(first ? { first } : {}) }],
        // Rule: the delivery outlives the payment's run (its schedule spans three days).
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
    } catch (err) {
      // already started (or already finished): the delivery is in hand
      if (!(err instanceof Error && err.name === 'WorkflowExecutionAlreadyStartedError')) throw err;
    }
  }
}

/** Fails the workflow (not the task) on input no API would send: nothing could be pushed anyway. */
function validateInput(input: StkPushInput): void {
  const problems: string[] = [];
  if (typeof input?.paymentId !== 'string' || input.paymentId === '') problems.push('paymentId');
  if (typeof input?.channelId !== 'string' || input.channelId === '') problems.push('channelId');
  if (!Number.isInteger(input?.amount) || input.amount < 1) problems.push('amount');
  if (typeof input?.phone !== 'string' || !/^254[17]\d{8}$/.test(input.phone)) problems.push('phone');
  // Rule: an ApplicationFailure fails the workflow; a plain Error would retry the task forever.
  if (problems.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `invalid stkPush input: ${problems.join(', ')}`,
      'InvalidStkPushInput',
    );
  }
}
