/** Small helpers the money workflows share (`stkPush`, `b2cPayout`, `reversal`, `darajaLookup`). */
import { ActivityFailure } from '@temporalio/workflow';

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
