/**
 * C2B customer payments (daraja.md §8.5): a customer pays a paybill or till unprompted. The simulator
 * POSTs the v2 validation payload to the registered ValidationURL, decides (the reply, or the
 * registration's ResponseType when there is no usable reply within `c2bValidationTimeoutMs`), then
 * POSTs the confirmation to the ConfirmationURL, retrying with backoff until it is answered 2xx.
 */
import { eatCompact } from './b2c';
import type { C2bPaymentLedgerEntry, C2bRegistration, SandboxState, TargetedAttempt } from './state';

export type C2bTransactionType = 'Pay Bill' | 'Buy Goods';

export interface C2bPaymentInput {
  via: 'control' | 'simulate';
  originatorConversationId: string | null;
  shortcode: string;
  amount: number;
  /** Full MSISDN `2547…` / `2541…`. */
  phone: string;
  billRefNumber: string;
  transactionType: C2bTransactionType;
}

/** `254708374149` → `2547 ***** 149`, as Daraja's v2 notifications mask it. */
export function maskC2bMsisdn(phone: string): string {
  return `${phone.slice(0, 4)} ***** ${phone.slice(-3)}`;
}

const money = (n: number) => n.toFixed(2);

/** Records the payment (validation pending) and returns its ledger entry. */
export function createC2bPayment(
  state: SandboxState,
  input: C2bPaymentInput,
  registration: C2bRegistration,
): C2bPaymentLedgerEntry {
  const at = state.now();
  let transId = state.ids.receipt(at);
  while (state.c2bPaymentByTransId(transId)) transId = state.ids.receipt(at);
  const transTime = eatCompact(at);
  const request = {
    TransactionType: input.transactionType,
    TransID: transId,
    TransTime: transTime,
    TransAmount: money(input.amount),
    BusinessShortCode: input.shortcode,
    BillRefNumber: input.billRefNumber,
    InvoiceNumber: '',
    OrgAccountBalance: '',
    ThirdPartyTransID: '',
    MSISDN: maskC2bMsisdn(input.phone),
    FirstName: 'SANDBOX',
    MiddleName: '',
    LastName: 'CUSTOMER',
  };
  return state.recordC2bPayment({
    transId,
    via: input.via,
    originatorConversationId: input.originatorConversationId,
    at: at.toISOString(),
    transTime,
    shortcode: input.shortcode,
    phone: input.phone,
    amount: input.amount,
    billRefNumber: input.billRefNumber,
    transactionType: input.transactionType,
    registration: { ...registration },
    validation: { request, attempt: null, reply: null, outcome: 'pending', resultCode: null },
    decidedBy: null,
    accepted: null,
    thirdPartyTransId: null,
    orgAccountBalance: null,
    confirmation: { request: null, attempts: [], delivered: false },
    statusQueries: 0,
  });
}

function parseReply(text: string | undefined): unknown {
  if (text === undefined || text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Runs the validation step and decides; resolves once decided. When accepted, the confirmation is
 * sent in the background (timers from `state.schedule`, so reset and close cancel them).
 */
export async function validateAndConfirm(state: SandboxState, entry: C2bPaymentLedgerEntry): Promise<void> {
  const generation = state.generation;
  const reg = entry.registration;
  const attempts: TargetedAttempt[] = [];
  const res = await state.post(reg.validationUrl, entry.validation.request, attempts, {
    target: 'ValidationURL',
    timeoutMs: state.options.c2bValidationTimeoutMs,
  });
  if (state.generation !== generation || state.closed) return;
  const v = entry.validation;
  v.attempt = attempts[0] ?? null;
  const status = res.attempt.httpStatus;
  if (res.timedOut) v.outcome = 'timeout';
  else if (status === undefined) v.outcome = 'unreachable';
  else {
    v.reply = parseReply(res.text);
    const code =
      v.reply !== null && typeof v.reply === 'object'
        ? (v.reply as Record<string, unknown>).ResultCode
        : undefined;
    if (status < 200 || status >= 300) v.outcome = 'http_error';
    else if (typeof code !== 'string' && typeof code !== 'number') v.outcome = 'invalid_reply';
    else {
      v.resultCode = String(code).trim();
      v.outcome = v.resultCode === '0' ? 'accepted' : 'rejected';
    }
  }
  if (v.outcome === 'accepted' || v.outcome === 'rejected') {
    entry.decidedBy = 'validation';
    entry.accepted = v.outcome === 'accepted';
  } else {
    // No usable answer in time: the registration's ResponseType decides (daraja.md §8.5).
    entry.decidedBy = 'response_type';
    entry.accepted = reg.responseType === 'Completed';
  }
  state.log('sandbox: C2B payment decided', {
    transId: entry.transId,
    accepted: entry.accepted,
    validation: v.outcome,
  });
  if (!entry.accepted) return;

  const third =
    v.reply !== null && typeof v.reply === 'object'
      ? (v.reply as Record<string, unknown>).ThirdPartyTransID
      : undefined;
  entry.thirdPartyTransId =
    (typeof third === 'string' && third !== '') || typeof third === 'number' ? String(third) : null;
  entry.orgAccountBalance = money(state.creditC2b(entry.shortcode, entry.amount));
  const body = {
    ...v.request,
    OrgAccountBalance: entry.orgAccountBalance,
    ThirdPartyTransID: entry.thirdPartyTransId ?? '',
  };
  entry.confirmation.request = body;
  const send = async (): Promise<void> => {
    if (state.generation !== generation) return;
    const r = await state.post(reg.confirmationUrl, body, entry.confirmation.attempts, {
      target: 'ConfirmationURL',
    });
    if (state.generation !== generation) return;
    if (r.attempt.ok) {
      entry.confirmation.delivered = true;
      return;
    }
    const n = entry.confirmation.attempts.length;
    if (n >= state.options.c2bConfirmationAttempts) return;
    state.schedule(state.options.c2bConfirmationRetryMs * 2 ** (n - 1), send);
  };
  state.schedule(0, send);
}
