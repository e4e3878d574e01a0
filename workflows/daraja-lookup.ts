/**
 * Workflow `darajaLookup`: one Account Balance or Transaction Status request. Send it (again only when
 * it provably never left), then wait a bounded time for Daraja's Result, which the hook route signals.
 * Workflow id = lookup id (`lkp_…`). No credential ever enters its input or history.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  defineSignal,
  log,
  proxyActivities,
  setHandler,
  sleep,
} from '@temporalio/workflow';
import type { LookupActivities, StartLookupResult } from '../activities/lookup-types';
import {
  type DarajaLookupInput,
  type DarajaLookupResult,
  LOOKUP_NOT_SENT,
  type LookupResultSignal,
} from '../src/domain/lookup';
import { errorMessage } from './helpers';

/** Daraja's Result, parsed by the hook route. */
export const lookupResultSignal = defineSignal<[LookupResultSignal]>('lookupResult');

const { startLookup } = proxyActivities<LookupActivities>({
  // Outlives the Daraja client's own request timeout (MALIPO_DARAJA_TIMEOUT_MS ≤ 50 s), so the activity
  // itself reports a timeout-after-send as `ambiguous`.
  startToCloseTimeout: '60 seconds',
  // Temporal never retries: an attempt that timed out or crashed may have sent the request. The
  // workflow sends again itself, and only after a provable "not sent" (LOOKUP_NOT_SENT).
  retry: { maximumAttempts: 1 },
});

/** Sends after a provable "not sent": this many in all, with doubling pauses from NOT_SENT_DELAY_MS. */
const MAX_SENDS = 3;
const NOT_SENT_DELAY_MS = 1000;

export async function darajaLookup(input: DarajaLookupInput): Promise<DarajaLookupResult> {
  validateInput(input);
  const deadline = Date.now() + input.waitMs;
  /** Results received and not yet judged (a Result may arrive before the activity returns). */
  const inbox: LookupResultSignal[] = [];

  setHandler(lookupResultSignal, (r) => {
    // Rule: a signal cannot be refused, so a malformed payload is dropped here rather than allowed to
    // throw later (a plain error would fail the workflow task forever).
    if (
      r === null ||
      typeof r !== 'object' ||
      (typeof r.resultCode !== 'string' && typeof r.resultCode !== 'number')
    ) {
      log.warn('lookupResult ignored: malformed payload');
      return;
    }
    inbox.push({ ...r, resultCode: String(r.resultCode), resultDesc: String(r.resultDesc ?? '') });
  });

  const done = (r: Omit<DarajaLookupResult, 'lookupId' | 'kind' | 'decidedAt'>): DarajaLookupResult => ({
    lookupId: input.lookupId,
    kind: input.kind,
    ...r,
    decidedAt: new Date(Date.now()).toISOString(),
  });

  const sent = await send();
  if (sent.kind === 'rejected') {
    // Rule: a refused request produces no Result, so there is nothing to wait for.
    return done({
      status: 'failed',
      failedAt: 'request',
      rejectedBy: sent.by,
      resultCode: sent.code,
      resultDesc: sent.message,
      message: `${sent.by === 'daraja' ? 'Daraja refused' : 'Malipo could not send'} the ${label(input)}: ${sent.message}`,
    });
  }
  const conversationId = sent.kind === 'started' ? sent.conversationId : undefined;
  const ids = {
    conversationId,
    originatorConversationId: sent.kind === 'started' ? sent.originatorConversationId : undefined,
  };

  for (;;) {
    while (inbox.length > 0) {
      const r = inbox.shift()!;
      // Rule: a Result about another request (a stale or forged one) says nothing about this one; after
      // an ambiguous send the ConversationID is unknown, and the hook URL naming this lookup is the proof.
      if (conversationId && r.conversationId && r.conversationId !== conversationId) {
        log.warn('lookupResult ignored: foreign ConversationID', { got: r.conversationId });
        continue;
      }
      // Rule: ResultType 1 means "waiting for further messages": not the answer yet.
      if (r.resultType === 1) continue;
      const fields = {
        resultCode: r.resultCode,
        resultDesc: r.resultDesc,
        conversationId: r.conversationId || conversationId,
        originatorConversationId: r.originatorConversationId || ids.originatorConversationId,
        ...(input.kind === 'account_balance'
          ? { accounts: r.accounts ?? [], completedTime: r.completedTime }
          : { transaction: r.transaction ?? {} }),
      };
      if (r.resultCode === '0') {
        return done({ status: 'completed', ...fields, message: `Daraja answered the ${label(input)}.` });
      }
      return done({
        status: 'failed',
        failedAt: 'result',
        ...fields,
        message: `Daraja answered the ${label(input)} with ${r.resultCode}: ${r.resultDesc}`,
      });
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    await condition(() => inbox.length > 0, remaining);
  }
  return done({
    status: 'timeout',
    ...ids,
    message:
      sent.kind === 'ambiguous'
        ? `No Result for the ${label(input)} within ${input.waitMs} ms (the request may not have reached Daraja: ${sent.reason}).`
        : `Daraja accepted the ${label(input)}, and its Result did not come within ${input.waitMs} ms.`,
  });

  async function send(): Promise<StartLookupResult> {
    let delay = NOT_SENT_DELAY_MS;
    for (let n = 1; ; n++) {
      try {
        return await startLookup({
          lookupId: input.lookupId,
          merchantId: input.merchantId,
          kind: input.kind,
          channelId: input.channelId,
          environment: input.environment,
          receipt: input.receipt,
          originatorConversationId: input.originatorConversationId,
        });
      } catch (err) {
        const cause = err instanceof ActivityFailure ? err.cause : undefined;
        const notSent = cause instanceof ApplicationFailure && cause.type === LOOKUP_NOT_SENT;
        if (!notSent) {
          // Rule: a timeout or crash may have sent it; a lookup is a read, so just wait for a Result.
          return { kind: 'ambiguous', reason: errorMessage(err) };
        }
        // Rule: send again only what provably never left, and only while the wait leaves room for it.
        if (n >= MAX_SENDS || Date.now() + delay >= deadline) {
          return { kind: 'rejected', by: 'malipo', code: 'not_sent', message: cause.message };
        }
        await sleep(delay);
        delay *= 2;
      }
    }
  }
}

function label(input: DarajaLookupInput): string {
  return input.kind === 'account_balance' ? 'balance request' : 'transaction status request';
}

/** Fails the workflow (not the task) on input no API would send. */
function validateInput(input: DarajaLookupInput): void {
  const problems: string[] = [];
  if (typeof input?.lookupId !== 'string' || input.lookupId === '') problems.push('lookupId');
  if (typeof input?.channelId !== 'string' || input.channelId === '') problems.push('channelId');
  if (input?.kind !== 'account_balance' && input?.kind !== 'transaction_status') problems.push('kind');
  if (input?.kind === 'transaction_status' && !input.receipt && !input.originatorConversationId) {
    problems.push('receipt or originatorConversationId');
  }
  if (!Number.isInteger(input?.waitMs) || input.waitMs < 1) problems.push('waitMs');
  if (problems.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `invalid darajaLookup input: ${problems.join(', ')}`,
      'InvalidDarajaLookupInput',
    );
  }
}
