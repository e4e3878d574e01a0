/** The lookup ledgers: Transaction Status and Account Balance queries, and the flat view of async requests. */
import type { CallbackAttempt, TargetedAttempt } from './common';

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
