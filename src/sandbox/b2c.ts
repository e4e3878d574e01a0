/**
 * B2C Result bodies and their delivery (daraja.md §8, §8.2), plus the small helpers the async
 * endpoints share: EAT time formats and redaction of secrets before anything reaches the ledger.
 */
import { QUEUE_TIMEOUT_RESULT } from './scenarios';
import type { PayoutLedgerEntry, SandboxState } from './state';

/** Where Daraja's Results say their queue timeout would go (an internal Safaricom URL). */
export const INTERNAL_QUEUE_URL = 'https://internalsandbox.safaricom.co.ke/mpesa/abresults/v1/submit';

const p2 = (n: number) => String(n).padStart(2, '0');
const eatDate = (at: Date) => new Date(at.getTime() + 3 * 3600_000);

/** `dd.MM.yyyy HH:mm:ss` in Nairobi time (B2C TransactionCompletedDateTime). */
export function eatDisplay(at: Date): string {
  const e = eatDate(at);
  return `${p2(e.getUTCDate())}.${p2(e.getUTCMonth() + 1)}.${e.getUTCFullYear()} ${p2(e.getUTCHours())}:${p2(e.getUTCMinutes())}:${p2(e.getUTCSeconds())}`;
}

/** `YYYYMMDDHHmmss` in Nairobi time, as a string (C2B TransTime). */
export function eatCompact(at: Date): string {
  return eatDate(at).toISOString().slice(0, 19).replace(/[-T:]/g, '');
}

/** Replaces anything secret (SecurityCredential, Password) before a request body is recorded. */
export function redact(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    out[k] = /credential|password/i.test(k) && v !== undefined && v !== null ? '[redacted]' : v;
  }
  return out;
}

const referenceData = { ReferenceItem: { Key: 'QueueTimeoutURL', Value: INTERNAL_QUEUE_URL } };

/** The `{"Result": …}` POSTed to ResultURL for a processed payout (success or failure). */
export function b2cResultBody(p: PayoutLedgerEntry): { Result: Record<string, unknown> } {
  const base = {
    ResultType: 0,
    ResultCode: p.resultCode,
    ResultDesc: p.resultDesc,
    OriginatorConversationID: p.originatorConversationId,
    ConversationID: p.conversationId,
    TransactionID: p.transactionId,
  };
  if (!p.paid) return { Result: { ...base, ReferenceData: referenceData } };
  const completed = eatDisplay(new Date(p.completedAt ?? p.receivedAt));
  return {
    Result: {
      ...base,
      ResultParameters: {
        ResultParameter: [
          { Key: 'TransactionAmount', Value: p.amount },
          { Key: 'TransactionReceipt', Value: p.receipt },
          { Key: 'B2CRecipientIsRegisteredCustomer', Value: 'Y' },
          { Key: 'B2CChargesPaidAccountAvailableFunds', Value: -4510.0 },
          { Key: 'ReceiverPartyPublicName', Value: `${p.phone} - SANDBOX CUSTOMER` },
          { Key: 'TransactionCompletedDateTime', Value: completed },
          { Key: 'B2CUtilityAccountAvailableFunds', Value: 10116.0 },
          { Key: 'B2CWorkingAccountAvailableFunds', Value: 900000.0 },
        ],
      },
      ReferenceData: referenceData,
    },
  };
}

/**
 * The body POSTed to QueueTimeOutURL when a request times out in M-Pesa's queue. Safaricom does not
 * document it (daraja.md §8); this is the simulator's choice: the usual Result envelope, ResultCode 1,
 * no TransactionID (nothing was executed), no ResultParameters.
 */
export function queueTimeoutBody(p: PayoutLedgerEntry): { Result: Record<string, unknown> } {
  return {
    Result: {
      ResultType: 0,
      ResultCode: QUEUE_TIMEOUT_RESULT.resultCode,
      ResultDesc: QUEUE_TIMEOUT_RESULT.resultDesc,
      OriginatorConversationID: p.originatorConversationId,
      ConversationID: p.conversationId,
      TransactionID: '',
      ReferenceData: referenceData,
    },
  };
}

/** Schedules the Result of an accepted payout as its `delivery` says (no retries: Daraja does not retry these). */
export function deliverPayoutResult(state: SandboxState, p: PayoutLedgerEntry): void {
  const delay = state.options.callbackDelayMs;
  const toResult = () => state.post(p.resultUrl, b2cResultBody(p), p.callbacks, { target: 'ResultURL' });
  switch (p.delivery) {
    case 'result_url':
      state.schedule(delay, toResult);
      break;
    case 'duplicate':
      state.schedule(delay, toResult);
      state.schedule(delay + state.options.duplicateCallbackGapMs, toResult);
      break;
    case 'queue_timeout_url':
      state.schedule(delay, () =>
        state.post(p.queueTimeoutUrl, queueTimeoutBody(p), p.callbacks, { target: 'QueueTimeOutURL' }),
      );
      break;
    case 'dropped':
    case 'none':
      break;
  }
}
