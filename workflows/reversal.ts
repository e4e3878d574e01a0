/**
 * Workflow `reversal`: one M-Pesa Reversal (refund) of a successful payment. Send the request once
 * (never again after an ambiguous send), wait for its Result at ResultURL/QueueTimeOutURL, confirm a
 * failure Result, a queue timeout or silence with Transaction Status, and settle. Workflow id =
 * reversal id (`rev_…`). The initiator's credential never enters this code: the activities load it.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  defineQuery,
  defineSignal,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
} from '@temporalio/workflow';
import type {
  InitiateReversalResult,
  QueryReversalStatusResult,
  RecordReversalStatusInput,
  REVERSAL_INITIATION_ERRORS,
  ReversalActivities,
} from '../activities/reversal-types';
import {
  type ReversalDecisionSource,
  type ReversalFailureReason,
  type ReversalInput,
  type ReversalResultSignal,
  type ReversalReviewReason,
  type ReversalState,
  type ReversalStatus,
  type ReversalStatusSignal,
  resolveReversalConfig,
} from '../src/domain/reversal';
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

/** A ResultURL or QueueTimeOutURL callback for this reversal, parsed by the hook route. */
export const reversalResultSignal = defineSignal<[ReversalResultSignal]>('reversalResult');
/** The Result of one of this reversal's Transaction Status requests. */
export const reversalStatusSignal = defineSignal<[ReversalStatusSignal]>('reversalStatus');
/** The live state of the reversal. */
export const reversalStateQuery = defineQuery<ReversalState>('reversalState');

// ---------------------------------------------------------------------------------------------
// Activities: timeouts and retry policies, declared once.

/** The error types the activity throws when provably nothing was sent (no value import from activities/ here). */
const NOT_SENT: (typeof REVERSAL_INITIATION_ERRORS)['notSent'] = 'ReversalRequestNotSent';
const MISCONFIGURED: (typeof REVERSAL_INITIATION_ERRORS)['misconfigured'] = 'ReversalChannelMisconfigured';

const { initiateReversal } = proxyActivities<ReversalActivities>({
  // Outlives the Daraja client's own 30 s timeout, so the activity reports a timeout-after-send as
  // `ambiguous` itself. No heartbeat: one HTTP call.
  startToCloseTimeout: '45 seconds',
  retry: {
    // Retries exist for "not sent" only; a retried attempt after a crash finds the durable "sent"
    // mark and answers `ambiguous` without sending (reversal-types.ts, "Never twice").
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '15 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [MISCONFIGURED],
  },
});

const { queryReversalStatus } = proxyActivities<ReversalActivities>({
  // Starting a Transaction Status request is a read: a couple of quick retries, then the workflow's
  // own back-off loop decides when to ask again.
  startToCloseTimeout: '45 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    maximumAttempts: 3,
  },
});

const { recordReversalStatus } = proxyLocalActivities<ReversalActivities>({
  // Idempotent by (reversalId, version) and short, so local; retried without limit so a DB outage
  // delays the projection, never loses it.
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Transaction Status values that say the transaction exists and did not complete. */
const NOT_COMPLETED = ['failed', 'declined', 'cancelled'];

type InitiationOutcome = 'accepted' | 'ambiguous' | 'rejected';

interface StatusChange {
  status: Exclude<ReversalStatus, 'pending'>;
  decidedBy: ReversalDecisionSource;
  message: string;
  failureReason?: ReversalFailureReason;
  reviewReason?: ReversalReviewReason;
  resultCode?: string | undefined;
  resultDesc?: string | undefined;
  mpesaReceipt?: string | undefined;
}

const optString = (v: unknown): string | undefined =>
  v === undefined || v === null || v === '' ? undefined : String(v);

export async function reversal(input: ReversalInput): Promise<ReversalState> {
  validateInput(input);
  const cfg = resolveReversalConfig(input.config);

  const state: ReversalState = {
    reversalId: input.reversalId,
    status: 'pending',
    initiation: 'pending',
    amount: input.amount,
    requests: 0,
    statusQueries: 0,
    version: 0,
  };
  const snapshot = (): ReversalState => ({ ...state });

  const results: ReversalResultSignal[] = [];
  const answers: ReversalStatusSignal[] = [];
  const seen = new Set<string>();
  /** This reversal's Transaction Status requests: their ConversationIDs and numbers, the current one. */
  const rounds = new StatusRounds();
  let queueTimedOut = false;
  /** The reversal's own TransactionID, as a Result named it: what Transaction Status looks up. */
  let knownTransactionId: string | undefined;
  /** The first believed failure Result: final only once a later Transaction Status agrees. */
  let failureClaim: ReversalResultSignal | undefined;
  let claimAfterQuery = 0;

  // ---- handlers -----------------------------------------------------------------------------

  setHandler(reversalResultSignal, (r) => {
    if (!isResultPayload(r)) {
      log.warn('reversalResult ignored: malformed payload');
      return;
    }
    results.push({
      kind: r.kind,
      ...resultText(r),
      conversationId: optString(r.conversationId),
      originatorConversationId: optString(r.originatorConversationId),
      transactionId: optString(r.transactionId),
      amount: toAmount(r.amount),
    });
  });

  setHandler(reversalStatusSignal, (a) => {
    if (!isStatusPayload(a)) {
      log.warn('reversalStatus ignored: malformed payload');
      return;
    }
    if (state.statusQueries === 0) {
      log.warn('reversalStatus ignored: no Transaction Status request yet');
      return;
    }
    answers.push({
      conversationId: optString(a.conversationId),
      ...resultText(a),
      transactionStatus: optString(a.transactionStatus),
      receipt: optString(a.receipt),
      amount: toAmount(a.amount),
    });
  });

  setHandler(reversalStateQuery, snapshot);

  // ---- main flow ----------------------------------------------------------------------------

  ensureSearchAttributes({ ...input, reference: input.paymentId });
  log.info('reversal started', { amount: input.amount, paymentId: input.paymentId });
  // Rule: the reversals row exists (version 1) before anything is sent.
  await commit('Reversal created; sending the Reversal request to M-Pesa.');

  const initiated = await initiate();
  if (initiated !== 'rejected') {
    // Rule: the Result is the authoritative answer; wait for it first.
    await listen(cfg.resultWaitMs, () => queueTimedOut || failureClaim !== undefined);
    if (isPending()) await reconcile();
  }

  await condition(allHandlersFinished);
  log.info('reversal finished', { status: state.status, reviewReason: state.reviewReason });
  return snapshot();

  // ---- initiation ---------------------------------------------------------------------------

  async function initiate(): Promise<InitiationOutcome> {
    // Rule: one Reversal request per reversal, ever.
    state.requests = 1;
    let r: InitiateReversalResult;
    try {
      r = await initiateReversal({
        reversalId: input.reversalId,
        channelId: input.channelId,
        environment: input.environment,
        amount: input.amount,
        receipt: input.receipt,
        remarks: input.remarks,
      });
    } catch (err) {
      // Rule: only the activity's two "nothing was sent" types prove no money can move; anything
      // else may have reached Daraja, so it is ambiguous and never sent again.
      const cause = notSentFailure(err, [NOT_SENT, MISCONFIGURED]);
      if (cause) {
        state.initiation = 'rejected';
        await settle({
          status: 'failed',
          failureReason: 'rejected',
          decidedBy: 'initiation',
          message:
            cause.type === MISCONFIGURED
              ? `The channel cannot send reversals: ${cause.message}`
              : `Malipo could not send the reversal to M-Pesa: ${cause.message}`,
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
        await commit('M-Pesa accepted the reversal; waiting for its result.');
        return 'accepted';
      case 'ambiguous':
        // Rule: the request may have reached Daraja: NEVER sent again; its Result or Transaction
        // Status decides, else an operator.
        state.initiation = 'ambiguous';
        log.warn('reversal initiation ambiguous; never resent', { reason: r.reason });
        await commit(`The reversal request may have reached M-Pesa (${r.reason}); waiting for its result.`);
        return 'ambiguous';
      case 'rejected':
        // Rule: a synchronous refusal is definitive: nothing was queued.
        state.initiation = 'rejected';
        await settle({
          status: 'failed',
          failureReason: 'rejected',
          decidedBy: 'initiation',
          resultCode: r.code,
          resultDesc: r.message,
          message: `M-Pesa rejected the reversal: ${r.message}`,
        });
        return 'rejected';
    }
  }

  // ---- waiting ------------------------------------------------------------------------------

  function isPending(): boolean {
    return state.status === 'pending';
  }

  /** Judges everything received, then waits until `done()`, a decision, or `ms` pass. */
  function listen(ms: number, done: () => boolean): Promise<void> {
    return listenFor(ms, done, isPending, drain, () => results.length > 0 || answers.length > 0);
  }

  /** Results first: the ResultURL callback wins over any Transaction Status answer. */
  function drain(): Promise<void> {
    return drainInOrder(isPending, results, judgeResult, answers, judgeAnswer);
  }

  /**
   * Up to maxStatusQueries Transaction Status requests, each waiting statusWaitMs for its answer,
   * statusRetryDelayMs × 2^(n-1) apart. A Result at any point wins. Then `needs_review`.
   */
  async function reconcile(): Promise<void> {
    for (let n = 1; n <= cfg.maxStatusQueries; n++) {
      await drain();
      if (!isPending()) return;
      const started = await startStatusQuery(state.statusQueries + 1);
      await listen(cfg.statusWaitMs, () => started && rounds.answered);
      if (!isPending()) return;
      if (n < cfg.maxStatusQueries) await listen(cfg.statusRetryDelayMs * 2 ** (n - 1), () => false);
    }
    if (!isPending()) return;
    // Rule: nothing proved what happened, and money may have gone back: an operator decides.
    if (failureClaim !== undefined) {
      await settle({
        status: 'needs_review',
        reviewReason: 'failure_unconfirmed',
        decidedBy: 'deadline',
        resultCode: failureClaim.resultCode,
        resultDesc: failureClaim.resultDesc,
        message: `M-Pesa's result says the reversal failed (${failureClaim.resultDesc}), but ${state.statusQueries} Transaction Status requests could not confirm it.`,
      });
      return;
    }
    const ambiguous = state.initiation === 'ambiguous' && state.conversationId === undefined;
    await settle({
      status: 'needs_review',
      reviewReason: ambiguous ? 'ambiguous_initiation' : 'result_missing',
      decidedBy: 'deadline',
      message: ambiguous
        ? 'The reversal request may have reached M-Pesa, and neither a result nor Transaction Status said what happened.'
        : queueTimedOut
          ? `M-Pesa timed the reversal out in its queue, and ${state.statusQueries} Transaction Status requests could not confirm whether it happened.`
          : `No result came for the reversal, and ${state.statusQueries} Transaction Status requests could not confirm whether it happened.`,
    });
  }

  async function startStatusQuery(queryNumber: number): Promise<boolean> {
    rounds.begin();
    // Rule: a lookup needs the reversal's own ids; after an ambiguous send without a Result there
    // are none (the original receipt would find the payment, not this reversal).
    if (knownTransactionId === undefined && state.originatorConversationId === undefined) {
      return false;
    }
    state.statusQueries = queryNumber;
    let r: QueryReversalStatusResult;
    try {
      r = await queryReversalStatus({
        reversalId: input.reversalId,
        channelId: input.channelId,
        environment: input.environment,
        transactionId: knownTransactionId,
        originatorConversationId: state.originatorConversationId,
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

  // ---- believing ----------------------------------------------------------------------------

  async function judgeResult(r: ReversalResultSignal): Promise<void> {
    const fingerprint = JSON.stringify(['result', r]);
    // Rule: an identical repeat is a duplicate delivery and says nothing new.
    if (seen.has(fingerprint)) return;
    seen.add(fingerprint);
    // Rule: once Daraja named the request, a Result about another one (stale or forged) settles nothing.
    if (state.conversationId !== undefined && r.conversationId !== state.conversationId) {
      log.warn('reversalResult ignored: it names another request', {
        got: r.conversationId,
        expected: state.conversationId,
      });
      return;
    }
    if (state.conversationId === undefined && r.conversationId !== undefined) {
      state.conversationId = r.conversationId;
      state.originatorConversationId ??= r.originatorConversationId;
    }
    if (r.transactionId !== undefined) knownTransactionId ??= r.transactionId;

    if (r.kind === 'queue_timeout') {
      // Rule: a queue timeout is not an answer about money; Transaction Status decides.
      queueTimedOut = true;
      return;
    }
    if (r.resultCode === '0') {
      // Rule: the amount reversed must be the amount asked; another is never silently accepted.
      if (r.amount !== undefined && r.amount !== input.amount) {
        await settle({
          status: 'needs_review',
          reviewReason: 'amount_mismatch',
          decidedBy: 'result',
          resultCode: r.resultCode,
          resultDesc: r.resultDesc,
          message: `M-Pesa reported ${r.amount} KES reversed for a ${input.amount} KES reversal.`,
        });
        return;
      }
      await settle({
        status: 'success',
        decidedBy: 'result',
        resultCode: r.resultCode,
        resultDesc: r.resultDesc,
        mpesaReceipt: r.transactionId,
        message: 'M-Pesa reversed the money to the customer.',
      });
      return;
    }
    // Rule: a failure Result becomes final only once a Transaction Status request started after it agrees.
    if (failureClaim === undefined) {
      failureClaim = r;
      claimAfterQuery = state.statusQueries;
    }
  }

  async function judgeAnswer(a: ReversalStatusSignal): Promise<void> {
    const fingerprint = JSON.stringify(['status', a]);
    if (seen.has(fingerprint)) return;
    seen.add(fingerprint);
    // Rule: only answers to requests this reversal started count (one without an id answers the latest).
    const requestNumber = rounds.numberOf(a.conversationId, state.statusQueries);
    if (requestNumber === undefined) {
      log.warn('reversalStatus ignored: not one of this reversal’s requests', { got: a.conversationId });
      return;
    }
    const { completed, notCompleted, notFound } = statusVerdict(a, NOT_COMPLETED);
    if (completed) {
      if (a.amount !== undefined && a.amount !== input.amount) {
        await settle({
          status: 'needs_review',
          reviewReason: 'amount_mismatch',
          decidedBy: 'status',
          resultCode: a.resultCode,
          resultDesc: a.resultDesc,
          message: `Transaction Status reports ${a.amount} KES reversed for a ${input.amount} KES reversal.`,
        });
        return;
      }
      await settle({
        status: 'success',
        decidedBy: 'status',
        resultCode: a.resultCode,
        resultDesc: a.resultDesc,
        mpesaReceipt: a.receipt ?? knownTransactionId,
        message: 'M-Pesa reversed the money to the customer; confirmed by Transaction Status.',
      });
      return;
    }
    if (failureClaim !== undefined && requestNumber > claimAfterQuery && (notFound || notCompleted)) {
      // Rule: the failure Result and a lookup made after it agree: nothing went back.
      await settle({
        status: 'failed',
        failureReason: 'declined',
        decidedBy: 'status',
        resultCode: failureClaim.resultCode,
        resultDesc: failureClaim.resultDesc,
        message: `M-Pesa did not reverse the payment: ${failureClaim.resultDesc} (confirmed by Transaction Status: ${a.resultDesc})`,
      });
      return;
    }
    if (queueTimedOut && notFound) {
      // Rule: timed out in M-Pesa's queue and the lookup finds no such transaction: nothing moved.
      await settle({
        status: 'failed',
        failureReason: 'queue_timeout',
        decidedBy: 'status',
        resultCode: a.resultCode,
        resultDesc: a.resultDesc,
        message: `M-Pesa timed the reversal out in its queue; Transaction Status finds no such transaction (${a.resultDesc}).`,
      });
      return;
    }
    // Rule: after silence, "not found" is no proof nothing moved (Results lag behind).
    log.info('Transaction Status did not confirm the reversal', {
      resultCode: a.resultCode,
      transactionStatus: a.transactionStatus,
    });
  }

  // ---- settling -----------------------------------------------------------------------------

  async function settle(change: StatusChange): Promise<void> {
    // Rule: one decision per reversal; every settle happens while it is pending.
    if (!isPending()) return;
    state.status = change.status;
    state.decidedBy = change.decidedBy;
    state.failureReason = change.status === 'failed' ? change.failureReason : undefined;
    state.reviewReason = change.status === 'needs_review' ? change.reviewReason : undefined;
    if (change.resultCode !== undefined) state.resultCode = change.resultCode;
    if (change.resultDesc !== undefined) state.resultDesc = change.resultDesc;
    if (change.status === 'success') state.mpesaReceipt = change.mpesaReceipt;
    log.info('reversal settled', {
      status: state.status,
      decidedBy: state.decidedBy,
      resultCode: state.resultCode,
    });
    await commit(change.message);
  }

  async function commit(message: string): Promise<void> {
    state.message = message;
    state.version++;
    followStatus(state.status);
    const snap: RecordReversalStatusInput = {
      reversalId: state.reversalId,
      version: state.version,
      status: state.status,
      initiation: state.initiation,
      conversationId: state.conversationId,
      originatorConversationId: state.originatorConversationId,
      mpesaReceipt: state.mpesaReceipt,
      resultCode: state.resultCode,
      resultDesc: state.resultDesc,
      failureReason: state.failureReason,
      reviewReason: state.reviewReason,
      decidedBy: state.decidedBy,
      reason: message,
      changedAt: iso(Date.now()),
    };
    await recordReversalStatus(snap);
  }
}

/** Fails the workflow (not the task) on input no API would send. */
function validateInput(input: ReversalInput): void {
  const problems: string[] = [];
  if (typeof input?.reversalId !== 'string' || input.reversalId === '') problems.push('reversalId');
  if (typeof input?.paymentId !== 'string' || input.paymentId === '') problems.push('paymentId');
  if (typeof input?.channelId !== 'string' || input.channelId === '') problems.push('channelId');
  if (!Number.isInteger(input?.amount) || input.amount < 1) problems.push('amount');
  if (typeof input?.receipt !== 'string' || !/^[A-Z0-9]{10}$/.test(input.receipt)) problems.push('receipt');
  if (problems.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `invalid reversal input: ${problems.join(', ')}`,
      'InvalidReversalInput',
    );
  }
}
