/**
 * Workflow `b2cPayout`: one M-Pesa B2C payout. Send the request once (never again after an
 * ambiguous send), wait for the ResultURL/QueueTimeOutURL callback, reconcile with Transaction Status
 * when it does not come, says "queue timeout" or says "failed", settle, and keep listening for a late
 * result while the payout needs review. A Result is believed only when it names this payout's request
 * by both ids; any other is recorded as suspicious. Workflow id = payout id (= Daraja's
 * OriginatorConversationID).
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
} from '@temporalio/workflow';
import type {
  InitiateB2cPayoutResult,
  PAYOUT_INITIATION_ERRORS,
  PayoutActivities,
  QueryPayoutStatusResult,
  RecordPayoutStatusInput,
} from '../activities/payout-types';
import {
  PAYOUT_COMMANDS,
  type PayoutDecisionSource,
  type PayoutFailureReason,
  type PayoutInput,
  type PayoutResultSignal,
  type PayoutReviewReason,
  type PayoutState,
  type PayoutStatus,
  type PayoutStatusSignal,
  payoutFailureReasonFor,
  type SuspiciousPayoutResult,
  resolvePayoutConfig,
} from '../src/domain/payout';
import { maskPhone } from '../src/domain/phone';
import {
  type ManualResolution,
  MPESA_RECEIPT,
  reconcileSchedule,
  RESOLVE_ERRORS,
  type ResolvedBy,
  sameResolution,
} from '../src/domain/reconciliation';
import { ensureSearchAttributes } from './search-attributes';
import {
  drainInOrder,
  errorMessage,
  followStatus,
  isResultPayload,
  isStatusPayload,
  iso,
  listenFor,
  notSentFailure,
  resultText,
  StatusRounds,
  statusVerdict,
  toAmount,
} from './helpers';

// ---------------------------------------------------------------------------------------------
// Messages

/** A ResultURL or QueueTimeOutURL callback for this payout, parsed by the hook route. */
export const payoutResultSignal = defineSignal<[PayoutResultSignal]>('payoutResult');
/** The result callback of one of this payout's Transaction Status requests. */
export const payoutStatusSignal = defineSignal<[PayoutStatusSignal]>('payoutStatus');
/** The live state of the payout. */
export const payoutStateQuery = defineQuery<PayoutState>('payoutState');
/**
 * A manual resolution of a `needs_review` payout (POST /v1/payouts/:id/resolve). Refused unless the
 * payout is in review (`NotInReview`), or when another resolution was applied (`ResolutionConflict`);
 * the same resolution again is accepted and answers the state. Resolves once the change is recorded.
 */
export const resolvePayoutUpdate = defineUpdate<PayoutState, [ManualResolution]>('resolve');

// ---------------------------------------------------------------------------------------------
// Activities: timeouts and retry policies, declared once.

/** The two error types the activity throws when provably nothing was sent (a value import from activities/ is not allowed here). */
const NOT_SENT: (typeof PAYOUT_INITIATION_ERRORS)['notSent'] = 'B2cRequestNotSent';
const MISCONFIGURED: (typeof PAYOUT_INITIATION_ERRORS)['misconfigured'] = 'B2cChannelMisconfigured';

const { initiateB2cPayout } = proxyActivities<PayoutActivities>({
  // One attempt outlives the Daraja client's own 30 s request timeout, so the activity itself reports
  // a timeout-after-send as `ambiguous` rather than Temporal timing it out. No heartbeat: one HTTP call.
  startToCloseTimeout: '45 seconds',
  retry: {
    // Retries exist for `B2cRequestNotSent` (provably never reached Daraja). Every business outcome is
    // returned, not thrown; a retried attempt after a timeout/crash finds the activity's durable "sent"
    // mark and answers `ambiguous` without sending (payout-types.ts, "Never twice"). ~30 s in all.
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '15 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [MISCONFIGURED],
  },
});

const { queryPayoutStatus } = proxyActivities<PayoutActivities>({
  // Starting a Transaction Status request is a short read; a couple of quick retries, then the
  // workflow's own back-off loop decides when to ask again.
  startToCloseTimeout: '45 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    maximumAttempts: 3,
  },
});

const { recordPayoutStatus } = proxyLocalActivities<PayoutActivities>({
  // Idempotent by (payoutId, version) and short, so local; the projection must land eventually, so
  // retry without limit, backing off to a minute: a DB outage delays the write, never loses it.
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * Suspicious Results recorded (event + audit row) per payout; beyond that they are only logged, so a
 * flood of them cannot grow the history or the events table without bound.
 */
const MAX_SUSPICIOUS_RECORDS = 5;

/** Transaction Status values that say the transaction exists and did not complete. */
const NOT_COMPLETED = ['failed', 'declined', 'cancelled', 'reversed'];

// ---------------------------------------------------------------------------------------------

type InitiationOutcome = 'accepted' | 'ambiguous' | 'rejected';

interface StatusChange {
  status: Exclude<PayoutStatus, 'pending'>;
  decidedBy: PayoutDecisionSource;
  message: string;
  failureReason?: PayoutFailureReason;
  reviewReason?: PayoutReviewReason;
  resultCode?: string | undefined;
  resultDesc?: string | undefined;
  mpesaReceipt?: string | undefined;
  receiverName?: string | undefined;
  completedAt?: string | undefined;
  /** Who takes the payout out of `needs_review`; `reconciliation` when unset. */
  resolvedBy?: ResolvedBy;
}

const optString = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));

export async function b2cPayout(input: PayoutInput): Promise<PayoutState> {
  validateInput(input);
  const cfg = resolvePayoutConfig(input.config);

  const state: PayoutState = {
    payoutId: input.payoutId,
    status: 'pending',
    initiation: 'pending',
    amount: input.amount,
    phone: input.phone,
    requests: 0,
    statusQueries: 0,
    suspiciousResults: 0,
    version: 0,
  };
  const snapshot = (): PayoutState => ({ ...state });

  /** Result callbacks received and not yet judged (buffered until the main flow needs them). */
  const results: PayoutResultSignal[] = [];
  /** Transaction Status answers received and not yet judged. */
  const answers: PayoutStatusSignal[] = [];
  const seenResults = new Set<string>();
  const seenAnswers = new Set<string>();
  /** The Transaction Status requests this payout started (their numbers 1, 2 …), the one the current round waits on, and whether it has answered. */
  const rounds = new StatusRounds();
  /** M-Pesa's QueueTimeOutURL said it timed the request out in its queue. */
  let queueTimedOut = false;
  /** A TransactionID a callback named, to help the Transaction Status lookup. */
  let knownTransactionId: string | undefined;
  /** The first believed Result that says the payout failed: final only once Transaction Status agrees. */
  let failureClaim: PayoutResultSignal | undefined;
  /** statusQueries when the failure claim arrived: only requests started after it can confirm it. */
  let claimAfterQuery = 0;
  /** A full round of Transaction Status requests has been run for the failure claim. */
  let claimReconciled = false;
  /** The payout is in review and reconciling: a "not completed" answer is now final. */
  let reviewing = false;
  /** The manual resolution accepted, and whether the main flow applied or refused it. */
  let manual: ManualResolution | undefined;
  let manualOutcome: 'applied' | 'refused' | undefined;
  /** Set once the run is about to end: a resolution then goes straight to the database. */
  let closing = false;

  // ---- handlers -----------------------------------------------------------------------------

  setHandler(payoutResultSignal, (r) => {
    if (!isResultPayload(r)) {
      log.warn('payoutResult ignored: malformed payload');
      return;
    }
    results.push({
      kind: r.kind,
      ...resultText(r),
      conversationId: optString(r.conversationId),
      originatorConversationId: optString(r.originatorConversationId),
      receipt: optString(r.receipt),
      amount: toAmount(r.amount),
      receiverName: optString(r.receiverName),
      completedAt: optString(r.completedAt),
    });
  });

  setHandler(payoutStatusSignal, (a) => {
    if (!isStatusPayload(a)) {
      log.warn('payoutStatus ignored: malformed payload');
      return;
    }
    // Rule: before the first Transaction Status request there is nothing an answer could answer (an
    // answer racing its own request's activity result arrives after statusQueries was counted).
    if (state.statusQueries === 0) {
      log.warn('payoutStatus ignored: no Transaction Status request yet');
      return;
    }
    answers.push({
      conversationId: optString(a.conversationId),
      ...resultText(a),
      transactionStatus: optString(a.transactionStatus),
      receipt: optString(a.receipt),
      amount: toAmount(a.amount),
      receiverName: optString(a.receiverName),
      completedAt: optString(a.completedAt),
    });
  });

  setHandler(payoutStateQuery, snapshot);

  setHandler(
    resolvePayoutUpdate,
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
          `payout ${input.payoutId} is ${state.status}, not needs_review`,
          RESOLVE_ERRORS.notInReview,
        );
      }
      return snapshot();
    },
    {
      validator: (r) => {
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
              `payout ${input.payoutId} was already resolved ${manual.status}`,
              RESOLVE_ERRORS.conflict,
            );
          }
          return;
        }
        if (closing)
          throw ApplicationFailure.nonRetryable('the payout workflow is ending', RESOLVE_ERRORS.closing);
        if (state.status !== 'needs_review') {
          throw ApplicationFailure.nonRetryable(
            `payout ${input.payoutId} is ${state.status}, not needs_review`,
            RESOLVE_ERRORS.notInReview,
          );
        }
      },
    },
  );

  // ---- main flow ----------------------------------------------------------------------------

  ensureSearchAttributes(input);
  log.info('b2cPayout started', {
    amount: input.amount,
    phone: maskPhone(input.phone),
    commandId: input.commandId,
  });
  // Rule: the payouts row exists (version 1) before anything is sent.
  await commit('Payout created; sending the B2C request to M-Pesa.');

  const initiated = await initiate();
  if (initiated !== 'rejected') {
    // Rule: the ResultURL callback is the authoritative answer; wait for it first (a result that
    // arrived earlier is already in the inbox).
    await listen(cfg.resultWaitMs, () => !isPending() || queueTimedOut || failureClaim !== undefined);
    if (isPending()) await reconcile();
    if (isOpen()) await grace();
    if (manual !== undefined) await applyManual();
  }

  closing = true;
  await condition(allHandlersFinished);
  log.info('b2cPayout finished', {
    status: state.status,
    failureReason: state.failureReason,
    reviewReason: state.reviewReason,
  });
  return snapshot();

  // ---- initiation ---------------------------------------------------------------------------

  async function initiate(): Promise<InitiationOutcome> {
    // Rule: one logical B2C request per payout, ever; Temporal retries of a "not sent" attempt are
    // the same request.
    state.requests = 1;
    let r: InitiateB2cPayoutResult;
    try {
      r = await initiateB2cPayout({
        payoutId: input.payoutId,
        channelId: input.channelId,
        environment: input.environment,
        amount: input.amount,
        phone: input.phone,
        commandId: input.commandId,
        remarks: input.remarks,
        occasion: input.occasion,
      });
    } catch (err) {
      // Rule: only the two error types the activity uses for "nothing was sent" prove no money can
      // move; anything else (a timeout, a crash, an unexpected error) may have reached Daraja, so it
      // is ambiguous and the request is never sent again.
      const cause = notSentFailure(err, [NOT_SENT, MISCONFIGURED]);
      if (cause) {
        state.initiation = 'rejected';
        await settle({
          status: 'failed',
          failureReason: 'rejected',
          decidedBy: 'initiation',
          message:
            cause.type === MISCONFIGURED
              ? `The channel cannot send payouts: ${cause.message}`
              : `Malipo could not send the payout to M-Pesa: ${cause.message}`,
        });
        return 'rejected';
      }
      r = { kind: 'ambiguous', reason: errorMessage(err) };
    }

    switch (r.kind) {
      case 'accepted':
        state.initiation = 'accepted';
        state.conversationId = r.conversationId;
        state.originatorConversationId = r.originatorConversationId;
        state.acceptedAt = iso(Date.now());
        log.info('b2cPayout accepted by M-Pesa', { conversationId: r.conversationId });
        // Rule: record the acceptance so the payouts row has the ConversationID.
        await commit('M-Pesa accepted the payout; waiting for its result.');
        return 'accepted';
      case 'ambiguous':
        // Rule: the request may have reached Daraja, so it is NEVER sent again; its result callback
        // (the ResultURL names this payout) or Transaction Status decides.
        state.initiation = 'ambiguous';
        log.warn('b2cPayout initiation ambiguous; never resent', { reason: r.reason });
        await commit(`The payout request may have reached M-Pesa (${r.reason}); waiting for its result.`);
        return 'ambiguous';
      case 'rejected':
        // Rule: a synchronous refusal is definitive: nothing was queued, no money can move.
        state.initiation = 'rejected';
        await settle({
          status: 'failed',
          failureReason: payoutFailureReasonFor(r.code),
          decidedBy: 'initiation',
          resultCode: r.code,
          resultDesc: r.message,
          message: `M-Pesa rejected the payout: ${r.message}`,
        });
        return 'rejected';
    }
  }

  // ---- waiting ------------------------------------------------------------------------------

  function isPending(): boolean {
    return state.status === 'pending';
  }

  /** Can a callback still change the payout? (`success`/`failed` are final; an amount mismatch is an operator's call.) */
  function isOpen(): boolean {
    // Rule: an accepted manual resolution ends every wait; the main flow then applies it.
    if (manual !== undefined) return false;
    return isPending() || (state.status === 'needs_review' && state.reviewReason !== 'amount_mismatch');
  }

  /** Judges everything received, then waits until `done()`, the payout is decided, or `ms` pass. */
  function listen(ms: number, done: () => boolean): Promise<void> {
    return listenFor(
      ms,
      done,
      isOpen,
      drain,
      () => results.length > 0 || answers.length > 0 || manual !== undefined,
    );
  }

  /**
   * Judges everything received. Results first: the ResultURL callback is authoritative and wins over
   * any Transaction Status answer, even one that arrived earlier.
   */
  function drain(): Promise<void> {
    return drainInOrder(isOpen, results, judgeResult, answers, judgeAnswer);
  }

  /**
   * Up to maxStatusQueries Transaction Status requests, each waiting statusWaitMs for its answer, with
   * statusRetryDelayMs × 2^(n-1) between them. A result callback at any point wins. Runs while the
   * payout is pending, and again in the grace window when a failure Result arrives there.
   */
  async function reconcile(): Promise<void> {
    // Rule: a failure Result gets a full set of requests of its own, even when it arrives mid-way.
    let claimed = failureClaim !== undefined;
    const freshClaim = () => !claimed && failureClaim !== undefined;
    for (let n = 1; n <= cfg.maxStatusQueries; n++) {
      await drain();
      if (!isOpen()) return;
      if (freshClaim()) {
        claimed = true;
        n = 1;
      }
      const started = await startStatusQuery(state.statusQueries + 1);
      if (started) await listen(cfg.statusWaitMs, () => rounds.answered || freshClaim());
      else await drain();
      if (!isOpen()) return;
      if (freshClaim()) {
        claimed = true;
        n = 0;
        continue;
      }
      if (n < cfg.maxStatusQueries) await listen(cfg.statusRetryDelayMs * 2 ** (n - 1), freshClaim);
    }
    if (!isOpen()) return;
    if (failureClaim !== undefined) {
      claimReconciled = true;
      // Rule: a failure Result that Transaction Status cannot confirm is no proof nothing moved.
      await settle({
        status: 'needs_review',
        reviewReason: 'failure_unconfirmed',
        decidedBy: 'deadline',
        resultCode: failureClaim.resultCode,
        resultDesc: failureClaim.resultDesc,
        message: `M-Pesa's result says the payout failed (${failureClaim.resultDesc}), but ${state.statusQueries} Transaction Status requests could not confirm it.`,
      });
      return;
    }
    // Rule: after silence, "not found" or "not completed" is no proof (results lag), and after a queue
    // timeout nothing answered: money may have moved, so an operator decides.
    const ambiguous =
      state.initiation === 'ambiguous' && !queueTimedOut && state.conversationId === undefined;
    await settle(
      ambiguous
        ? {
            status: 'needs_review',
            reviewReason: 'ambiguous_initiation',
            decidedBy: 'deadline',
            message: `The payout request may have reached M-Pesa, and neither its result nor ${state.statusQueries} Transaction Status requests said what happened.`,
          }
        : {
            status: 'needs_review',
            reviewReason: 'result_missing',
            decidedBy: 'deadline',
            message: queueTimedOut
              ? `M-Pesa timed the payout out in its queue, and ${state.statusQueries} Transaction Status requests could not confirm whether it moved.`
              : `No result came for the payout, and ${state.statusQueries} Transaction Status requests could not confirm whether it moved.`,
          },
    );
  }

  async function startStatusQuery(queryNumber: number): Promise<boolean> {
    state.statusQueries = queryNumber;
    rounds.begin();
    let r: QueryPayoutStatusResult;
    try {
      r = await queryPayoutStatus({
        payoutId: input.payoutId,
        channelId: input.channelId,
        environment: input.environment,
        // Rule: the payout id is the OriginatorConversationID we sent, so even an ambiguous request can be looked up.
        originatorConversationId: state.originatorConversationId ?? input.payoutId,
        receipt: state.mpesaReceipt ?? knownTransactionId,
        queryNumber,
      });
    } catch (err) {
      // Rule: a failing lookup is "no answer yet", never a decision.
      r = { kind: 'unavailable', message: errorMessage(err) };
    }
    if (r.kind === 'started') {
      rounds.started(r.conversationId, queryNumber);
      return true;
    }
    log.info('Transaction Status unavailable', { queryNumber, message: r.message });
    return false;
  }

  /**
   * A needs_review payout keeps listening for a late answer (at least graceMs), and asks Transaction
   * Status again on RECONCILE_SCHEDULE_MS (scaled by cfg.reconcileScheduleScale; counted from here) until it is settled, a person resolves
   * it, or the schedule and the grace window have both ended (then it stays needs_review). A failure
   * Result arriving meanwhile is confirmed by Transaction Status like one that arrived in time.
   */
  async function grace(): Promise<void> {
    reviewing = true;
    const since = Date.now();
    const graceEnd = since + cfg.graceMs;
    const schedule = reconcileSchedule(cfg.reconcileScheduleScale);
    let next = 0;
    for (;;) {
      const dueAt = next < schedule.length ? since + schedule[next]! : undefined;
      if (dueAt === undefined && Date.now() >= graceEnd) return;
      await listen((dueAt ?? graceEnd) - Date.now(), () => failureClaim !== undefined && !claimReconciled);
      if (!isOpen()) return;
      if (failureClaim !== undefined && !claimReconciled) {
        await reconcile();
        if (!isOpen()) return;
        continue;
      }
      if (dueAt !== undefined && Date.now() >= dueAt) {
        next++;
        // Rule: one Transaction Status request per scheduled attempt, waiting statusWaitMs for its answer.
        if (await startStatusQuery(state.statusQueries + 1))
          await listen(cfg.statusWaitMs, () => rounds.answered);
        if (!isOpen()) return;
      }
    }
  }

  /** Applies the accepted manual resolution, or refuses it when the payout left review meanwhile. */
  async function applyManual(): Promise<void> {
    const r = manual!;
    if (state.status !== 'needs_review') {
      manualOutcome = 'refused';
      return;
    }
    state.resolvedBy = 'manual';
    state.status = r.status;
    state.decidedBy = 'manual';
    state.failureReason = r.status === 'failed' ? 'reviewed' : undefined;
    state.reviewReason = undefined;
    if (r.status === 'success') state.mpesaReceipt = r.mpesaReceipt;
    state.settledAt = iso(Date.now());
    log.info('b2cPayout resolved manually', { status: state.status });
    await commit(
      r.status === 'success'
        ? `Resolved manually: the money was paid out (receipt ${r.mpesaReceipt}).`
        : 'Resolved manually: no money moved.',
      undefined,
      {
        actor: r.actor,
        note: r.note,
        ...(r.requestId !== undefined ? { requestId: r.requestId } : {}),
      },
    );
    manualOutcome = 'applied';
  }

  // ---- believing ----------------------------------------------------------------------------

  async function judgeResult(r: PayoutResultSignal): Promise<void> {
    const fingerprint = JSON.stringify([
      r.kind,
      r.resultCode,
      r.resultDesc,
      r.conversationId ?? null,
      r.originatorConversationId ?? null,
      r.receipt ?? null,
      r.amount ?? null,
      r.receiverName ?? null,
      r.completedAt ?? null,
    ]);
    // Rule: an identical repeat is a duplicate delivery and says nothing new.
    if (seenResults.has(fingerprint)) return;
    seenResults.add(fingerprint);

    // Rule: a Result must name this payout's request by both ids, as Daraja returned them when it
    // accepted it; one without them, or about another request (stale or forged), settles nothing.
    const suspicion = suspicionOf(r);
    if (suspicion !== undefined) {
      await recordSuspicious(r, suspicion);
      return;
    }
    // Rule: after an ambiguous request, the first callback (its URL names this payout) tells us the ids.
    if (state.conversationId === undefined) {
      state.conversationId = r.conversationId;
      state.originatorConversationId ??= r.originatorConversationId;
    }

    if (r.kind === 'queue_timeout') {
      // Rule: a queue timeout is not an answer about money; Transaction Status decides.
      if (!queueTimedOut) log.info('b2cPayout queue timeout reported', { resultCode: r.resultCode });
      queueTimedOut = true;
      if (r.receipt !== undefined) knownTransactionId ??= r.receipt;
      return;
    }

    if (r.resultCode === '0') {
      // Rule: the amount paid out must be the amount asked; any other amount is never silently accepted.
      if (r.amount !== undefined && r.amount !== input.amount) {
        await settle({
          status: 'needs_review',
          reviewReason: 'amount_mismatch',
          decidedBy: 'result',
          resultCode: r.resultCode,
          resultDesc: r.resultDesc,
          message: `M-Pesa reported ${r.amount} KES paid out for a ${input.amount} KES payout (receipt ${r.receipt ?? 'none'}).`,
        });
        return;
      }
      await settle({
        status: 'success',
        decidedBy: 'result',
        resultCode: r.resultCode,
        resultDesc: r.resultDesc,
        mpesaReceipt: r.receipt,
        receiverName: r.receiverName,
        completedAt: r.completedAt,
        message: 'M-Pesa paid out the money.',
      });
      return;
    }
    // Rule: a non-zero ResultCode says "not paid", but the payout becomes failed only once a
    // Transaction Status request started after it agrees (reconcile); the first such Result counts.
    if (failureClaim === undefined) {
      failureClaim = r;
      claimAfterQuery = state.statusQueries;
      log.info('b2cPayout failure reported; confirming with Transaction Status', {
        resultCode: r.resultCode,
      });
    }
  }

  /** Why a Result does not name this payout's request, or undefined when it does. */
  function suspicionOf(r: PayoutResultSignal): SuspiciousPayoutResult['reason'] | undefined {
    if (!r.conversationId || !r.originatorConversationId) return 'missing_ids';
    // we sent the payout id as the OriginatorConversationID, so it holds even after an ambiguous send
    if (r.originatorConversationId !== (state.originatorConversationId ?? input.payoutId))
      return 'foreign_ids';
    if (state.conversationId !== undefined && r.conversationId !== state.conversationId) return 'foreign_ids';
    return undefined;
  }

  async function recordSuspicious(
    r: PayoutResultSignal,
    reason: SuspiciousPayoutResult['reason'],
  ): Promise<void> {
    state.suspiciousResults++;
    log.warn('b2cPayout Result does not name this payout’s request: recorded as suspicious, not believed', {
      reason,
      kind: r.kind,
      resultCode: r.resultCode,
      conversationId: r.conversationId,
      originatorConversationId: r.originatorConversationId,
      expectedConversationId: state.conversationId,
      expectedOriginatorConversationId: state.originatorConversationId ?? input.payoutId,
    });
    if (state.suspiciousResults > MAX_SUSPICIOUS_RECORDS) return;
    const suspicious: SuspiciousPayoutResult = {
      reason,
      kind: r.kind,
      resultCode: r.resultCode,
      resultDesc: r.resultDesc,
      conversationId: r.conversationId ?? null,
      originatorConversationId: r.originatorConversationId ?? null,
    };
    await commit(state.message ?? '', suspicious);
  }

  async function judgeAnswer(a: PayoutStatusSignal): Promise<void> {
    const fingerprint = JSON.stringify([
      a.conversationId ?? null,
      a.resultCode,
      a.resultDesc,
      a.transactionStatus ?? null,
      a.receipt ?? null,
      a.amount ?? null,
      a.receiverName ?? null,
      a.completedAt ?? null,
    ]);
    if (seenAnswers.has(fingerprint)) return;
    seenAnswers.add(fingerprint);
    // Rule: only answers to requests this payout started count (an answer without an id is taken as
    // the answer to the latest request).
    const requestNumber = rounds.numberOf(a.conversationId, state.statusQueries);
    if (requestNumber === undefined) {
      log.warn('payoutStatus ignored: not one of this payout’s requests', { got: a.conversationId });
      return;
    }
    // "not found": a definitive answer about the transaction, unless the lookup itself failed
    const { completed, notCompleted, notFound } = statusVerdict(a, NOT_COMPLETED);
    if (completed) {
      if (a.amount !== undefined && a.amount !== input.amount) {
        await settle({
          status: 'needs_review',
          reviewReason: 'amount_mismatch',
          decidedBy: 'status',
          resultCode: a.resultCode,
          resultDesc: a.resultDesc,
          message: `Transaction Status reports ${a.amount} KES paid out for a ${input.amount} KES payout (receipt ${a.receipt ?? 'none'}).`,
        });
        return;
      }
      await settle({
        status: 'success',
        decidedBy: 'status',
        resultCode: a.resultCode,
        resultDesc: a.resultDesc,
        mpesaReceipt: a.receipt,
        receiverName: a.receiverName,
        completedAt: a.completedAt,
        message: 'M-Pesa paid out the money; confirmed by Transaction Status.',
      });
      return;
    }
    if (failureClaim !== undefined && requestNumber > claimAfterQuery && (notFound || notCompleted)) {
      // Rule: the failure Result and a lookup made after it agree: nothing moved.
      await settle({
        status: 'failed',
        failureReason: payoutFailureReasonFor(failureClaim.resultCode),
        decidedBy: 'status',
        resultCode: failureClaim.resultCode,
        resultDesc: failureClaim.resultDesc,
        message: `M-Pesa did not pay out: ${failureClaim.resultDesc} (confirmed by Transaction Status: ${a.resultDesc})`,
      });
      return;
    }
    if (reviewing && notCompleted) {
      // Rule: in review the result no longer lags: a transaction Transaction Status finds and reports
      // failed, declined, cancelled or reversed did not pay out.
      await settle({
        status: 'failed',
        failureReason: 'not_completed',
        decidedBy: 'status',
        resultCode: a.resultCode,
        resultDesc: a.resultDesc,
        message: `Transaction Status reports the payout ${a.transactionStatus?.trim().toLowerCase()} (${a.resultDesc}).`,
      });
      return;
    }
    if (queueTimedOut && notFound) {
      // Rule: M-Pesa timed the request out in its queue and the lookup definitively finds no such
      // transaction: nothing moved.
      await settle({
        status: 'failed',
        failureReason: 'queue_timeout',
        decidedBy: 'status',
        resultCode: a.resultCode,
        resultDesc: a.resultDesc,
        message: `M-Pesa timed the payout out in its queue; Transaction Status finds no such transaction (${a.resultDesc}).`,
      });
      return;
    }
    // Rule: after silence a "not found" or "not completed" answer is no proof nothing moved (results lag).
    log.info('Transaction Status did not confirm the payout', {
      resultCode: a.resultCode,
      transactionStatus: a.transactionStatus,
    });
  }

  // ---- settling -----------------------------------------------------------------------------

  async function settle(change: StatusChange): Promise<void> {
    // Rule: success and failed are final; a needs_review moves only on new information.
    if (!isOpen()) return;
    if (change.status === state.status && change.reviewReason === state.reviewReason) return;
    // Rule: whatever takes a payout out of review is recorded with it (the event's `resolvedBy`).
    if (state.status === 'needs_review' && change.status !== 'needs_review') {
      state.resolvedBy = change.resolvedBy ?? 'reconciliation';
    }
    state.status = change.status;
    state.decidedBy = change.decidedBy;
    state.failureReason = change.status === 'failed' ? change.failureReason : undefined;
    state.reviewReason = change.status === 'needs_review' ? change.reviewReason : undefined;
    if (change.resultCode !== undefined) state.resultCode = change.resultCode;
    if (change.resultDesc !== undefined) state.resultDesc = change.resultDesc;
    // Rule: a receipt becomes the payout's only with a believed success.
    if (change.status === 'success') {
      state.mpesaReceipt = change.mpesaReceipt;
      state.receiverName = change.receiverName;
      state.completedAt = change.completedAt;
    }
    state.settledAt = iso(Date.now());
    log.info('b2cPayout settled', {
      status: state.status,
      decidedBy: state.decidedBy,
      failureReason: state.failureReason,
      reviewReason: state.reviewReason,
      resultCode: state.resultCode,
    });
    await commit(change.message);
  }

  /**
   * One recorded change: a new version, the search attribute, and the projection write. With
   * `suspicious`, the version records a Result that was not believed (the status is unchanged).
   */
  async function commit(
    message: string,
    suspicious?: SuspiciousPayoutResult,
    resolution?: RecordPayoutStatusInput['resolution'],
  ): Promise<void> {
    state.message = message;
    state.version++;
    // Rule: the UI filters on MalipoStatus, so it follows every change (an unchanged value needs no command).
    followStatus(state.status);
    const snap: RecordPayoutStatusInput = {
      payoutId: state.payoutId,
      version: state.version,
      status: state.status,
      initiation: state.initiation,
      conversationId: state.conversationId,
      originatorConversationId: state.originatorConversationId,
      mpesaReceipt: state.mpesaReceipt,
      receiverName: state.receiverName,
      completedAt: state.completedAt,
      resultCode: state.resultCode,
      resultDesc: state.resultDesc,
      failureReason: state.failureReason,
      reviewReason: state.reviewReason,
      decidedBy: state.decidedBy,
      resolvedBy: state.resolvedBy,
      ...(resolution !== undefined ? { resolution } : {}),
      reason:
        suspicious === undefined
          ? message
          : `A Result that does not name this payout’s request (${suspicious.reason}) was recorded as suspicious and not believed.`,
      changedAt: iso(Date.now()),
      ...(suspicious !== undefined ? { suspicious } : {}),
    };
    await recordPayoutStatus(snap);
  }
}

/** Fails the workflow (not the task) on input no API would send: nothing could be paid out anyway. */
function validateInput(input: PayoutInput): void {
  const problems: string[] = [];
  if (typeof input?.payoutId !== 'string' || input.payoutId === '') problems.push('payoutId');
  if (typeof input?.channelId !== 'string' || input.channelId === '') problems.push('channelId');
  if (!Number.isInteger(input?.amount) || input.amount < 1) problems.push('amount');
  if (typeof input?.phone !== 'string' || !/^254[17]\d{8}$/.test(input.phone)) problems.push('phone');
  if (!PAYOUT_COMMANDS.includes(input?.commandId)) problems.push('commandId');
  // Rule: an ApplicationFailure fails the workflow; a plain Error would retry the task forever.
  if (problems.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `invalid b2cPayout input: ${problems.join(', ')}`,
      'InvalidPayoutInput',
    );
  }
}
