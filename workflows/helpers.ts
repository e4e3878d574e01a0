/** Small helpers the money workflows share (`stkPush`, `b2cPayout`, `reversal`, `darajaLookup`). */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { MalipoStatus } from '../src/domain/search-attributes';

/** An activity failure's message with its cause, for the log and the review message. */
export function errorMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return `${err.message}: ${err.cause.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** Workflow time (ms) as an ISO timestamp. */
export const iso = (ms: number): string => new Date(ms).toISOString();

/** Amounts may arrive as `100` or `"100.00"`; anything else is NaN (equal to no amount). */
export function toAmount(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  return typeof v === 'number' ? v : Number(v);
}

/**
 * Transaction Status ResultCodes about the initiator (2001 wrong credential, 8006 locked, 21 no rights),
 * not the transaction: the lookup itself failed, so they confirm nothing. The same set as
 * INITIATOR_RESULT_CODES in src/lookups/results.ts (workflow code imports only src/domain).
 */
export const LOOKUP_FAILED_CODES: readonly string[] = ['2001', '8006', '21'];

// ---- requests answered asynchronously (`b2cPayout`, `reversal`) --------------------------------

/**
 * Does a ResultURL/QueueTimeOutURL signal carry what every judgement needs (its kind and a
 * ResultCode)? A signal cannot be refused, so one that does not is dropped by its handler (a throw
 * would fail the workflow task forever).
 */
export function isResultPayload(r: { kind?: unknown; resultCode?: unknown } | null | undefined): boolean {
  return (
    r !== null &&
    typeof r === 'object' &&
    (r.kind === 'result' || r.kind === 'queue_timeout') &&
    (typeof r.resultCode === 'string' || typeof r.resultCode === 'number')
  );
}

/** Does a Transaction Status signal carry a ResultCode? (As {@link isResultPayload}.) */
export function isStatusPayload(a: { resultCode?: unknown } | null | undefined): boolean {
  return (
    a !== null &&
    typeof a === 'object' &&
    (typeof a.resultCode === 'string' || typeof a.resultCode === 'number')
  );
}

/** A signal's ResultCode and ResultDesc as judged: the code trimmed text, the description text. */
export function resultText(r: { resultCode: string | number; resultDesc?: unknown }): {
  resultCode: string;
  resultDesc: string;
} {
  return { resultCode: String(r.resultCode).trim(), resultDesc: String(r.resultDesc ?? '') };
}

/**
 * The failure an initiation activity throws when provably nothing was sent (one of `types`), or
 * undefined when the request may have reached Daraja (ambiguous, never sent again).
 */
export function notSentFailure(err: unknown, types: readonly string[]): ApplicationFailure | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  return cause instanceof ApplicationFailure && cause.type != null && types.includes(cause.type)
    ? cause
    : undefined;
}

/** Keeps the MalipoStatus search attribute on `status` (the UI filters on it); no command when unchanged. */
export function followStatus(status: string): void {
  if (workflowInfo().typedSearchAttributes.get(MalipoStatus) !== status) {
    upsertSearchAttributes([{ key: MalipoStatus, value: status }]);
  }
}

/** What a Transaction Status answer says about the transaction. */
export interface StatusVerdict {
  /** Found and completed: the money moved. */
  completed: boolean;
  /** Found and one of the not-completed states (failed, declined, cancelled …). */
  notCompleted: boolean;
  /** "Not found": a definitive answer about the transaction, unless the lookup itself failed. */
  notFound: boolean;
}

export function statusVerdict(
  a: { resultCode: string; transactionStatus?: string | undefined },
  notCompletedStates: readonly string[],
): StatusVerdict {
  const status = a.transactionStatus?.trim().toLowerCase();
  return {
    completed: a.resultCode === '0' && status === 'completed',
    notCompleted: notCompletedStates.includes(status ?? ''),
    notFound: a.resultCode !== '0' && !LOOKUP_FAILED_CODES.includes(a.resultCode),
  };
}

/**
 * The Transaction Status requests of one payout or reversal: which ConversationIDs are its own (and
 * their numbers), the current request, and whether it has been answered.
 */
export class StatusRounds {
  readonly #numbers = new Map<string, number>();
  #current: string | undefined;
  /** The current request has been answered. */
  answered = false;

  /** A new request is about to start: none current, nothing answered. */
  begin(): void {
    this.#current = undefined;
    this.answered = false;
  }

  /** Daraja accepted request `n` as `conversationId`. */
  started(conversationId: string, n: number): void {
    this.#current = conversationId;
    this.#numbers.set(conversationId, n);
  }

  /**
   * The number of the request an answer answers (one without an id answers the latest), or undefined
   * when it is not one of ours. An answer to the current request marks it answered.
   */
  numberOf(conversationId: string | undefined, latest: number): number | undefined {
    const n = conversationId === undefined ? latest : this.#numbers.get(conversationId);
    if (n !== undefined && (conversationId === undefined || conversationId === this.#current))
      this.answered = true;
    return n;
  }
}

/** Judges what arrived, Results first (the ResultURL callback wins over any Transaction Status answer), while `open()`. */
export async function drainInOrder<R, A>(
  open: () => boolean,
  results: R[],
  judgeResult: (r: R) => Promise<void>,
  answers: A[],
  judgeAnswer: (a: A) => Promise<void>,
): Promise<void> {
  while (open()) {
    if (results.length > 0) await judgeResult(results.shift()!);
    else if (answers.length > 0) await judgeAnswer(answers.shift()!);
    else return;
  }
}

/**
 * Drains, then waits until `done()`, until it is no longer `open()`, or `ms` pass, draining again
 * whenever `woken()` (something arrived).
 */
export async function listenFor(
  ms: number,
  done: () => boolean,
  open: () => boolean,
  drain: () => Promise<void>,
  woken: () => boolean,
): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    await drain();
    if (done() || !open()) return;
    const left = until - Date.now();
    if (left <= 0) return;
    await condition(woken, left);
  }
}
