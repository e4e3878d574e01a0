/**
 * Reversal Results and their delivery (daraja.md §8, §8.7). The ledger decides the outcome: a
 * receipt the simulator does not know is R000002 ("The OriginalTransactionID is invalid."), and a
 * reversal beyond what is left of the original transaction is refused with R000003 (a simulator
 * choice in Daraja's R-code style: Safaricom does not document the code).
 */
import { INTERNAL_QUEUE_URL } from './b2c';
import type { ReversalLedgerEntry, SandboxState } from './state';

export const REVERSAL_RESULTS = {
  ok: { code: 0, desc: 'The service request is processed successfully.' },
  invalidOriginal: { code: 'R000002', desc: 'The OriginalTransactionID is invalid.' },
  exceeds: { code: 'R000003', desc: 'The reversal amount exceeds the amount available for reversal.' },
  credential: { code: 2001, desc: 'The initiator information is invalid.' },
} as const;

/** `YYYYMMDDHHmmss` in Nairobi time, as a number (TransCompletedTime). */
const eatNumber = (at: Date): number =>
  Number(new Date(at.getTime() + 3 * 3600_000).toISOString().slice(0, 19).replace(/[-T:]/g, ''));

/** The original transaction a receipt names: an STK payment, a B2C payout or a C2B payment. */
export function originalTransaction(state: SandboxState, receipt: string): ReversalLedgerEntry['original'] {
  const stk = state.findByReceipt(receipt);
  if (stk?.receipt) return { kind: 'stk', amount: stk.amount, phone: stk.phone };
  const payout = state.payoutByReceipt(receipt);
  if (payout?.paid) return { kind: 'b2c', amount: payout.amount, phone: payout.phone };
  const c2b = state.c2bPaymentByTransId(receipt);
  if (c2b?.accepted) return { kind: 'c2b', amount: c2b.amount, phone: c2b.phone };
  return null;
}

/** The outcome of a reversal the ledger decides (before it is recorded). */
export function decideReversal(
  state: SandboxState,
  receipt: string,
  amount: number,
  credentialOk: boolean,
): { code: number | string; desc: string; original: ReversalLedgerEntry['original'] } {
  const original = originalTransaction(state, receipt);
  if (!credentialOk) return { ...pick(REVERSAL_RESULTS.credential), original };
  if (!original) return { ...pick(REVERSAL_RESULTS.invalidOriginal), original };
  if (state.reversedAmount(receipt) + amount > original.amount)
    return { ...pick(REVERSAL_RESULTS.exceeds), original };
  return { ...pick(REVERSAL_RESULTS.ok), original };
}

const pick = (r: { code: number | string; desc: string }) => ({ code: r.code, desc: r.desc });

/** The `{"Result": …}` POSTed to ResultURL for a processed reversal (success or failure). */
export function reversalResultBody(r: ReversalLedgerEntry, at: Date): { Result: Record<string, unknown> } {
  const base = {
    ResultType: 0,
    ResultCode: r.resultCode,
    ResultDesc: r.resultDesc,
    OriginatorConversationID: r.originatorConversationId,
    ConversationID: r.conversationId,
    TransactionID: r.transactionId,
  };
  const referenceData = { ReferenceItem: { Key: 'QueueTimeoutURL', Value: INTERNAL_QUEUE_URL } };
  if (!r.reversed) return { Result: { ...base, ReferenceData: referenceData } };
  return {
    Result: {
      ...base,
      ResultParameters: {
        ResultParameter: [
          { Key: 'DebitAccountBalance', Value: 'Utility Account|KES|10116.00|10116.00|0.00|0.00' },
          { Key: 'Amount', Value: r.amount },
          { Key: 'TransCompletedTime', Value: eatNumber(at) },
          { Key: 'OriginalTransactionID', Value: r.originalTransactionId },
          { Key: 'Charge', Value: 0 },
          { Key: 'CreditPartyPublicName', Value: `${r.original?.phone ?? ''} - SANDBOX CUSTOMER` },
          { Key: 'DebitPartyPublicName', Value: `${r.receiverParty} - MALIPO SANDBOX` },
        ],
      },
      ReferenceData: referenceData,
    },
  };
}

/** Schedules the Result as the entry's `delivery` says (Daraja does not retry these). */
export function deliverReversalResult(state: SandboxState, r: ReversalLedgerEntry): void {
  const body = reversalResultBody(r, state.now());
  const send = () => state.post(r.resultUrl, body, r.callbacks, { target: 'ResultURL' });
  const delay = state.options.callbackDelayMs;
  switch (r.delivery) {
    case 'result_url':
      state.schedule(delay, send);
      break;
    case 'duplicate':
      state.schedule(delay, send);
      state.schedule(delay + state.options.duplicateCallbackGapMs, send);
      break;
    case 'late':
      state.schedule(delay + state.options.lateCallbackDelayMs, send);
      break;
    case 'dropped':
    case 'none':
      break;
  }
}
