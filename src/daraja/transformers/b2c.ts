/** B2C v3: the payment request payload. */
import { Issues, checkAmount, checkShortcode, checkUrl, msisdnNumber, checkRemarks } from './common';

// ---------------------------------------------------------------------------------------------
// B2C v3

export type B2cCommand = 'BusinessPayment' | 'SalaryPayment' | 'PromotionPayment';

export interface B2cInput {
  /** Our unique id for this payout (Daraja rejects a reused one: 500.002.1001). */
  originatorConversationId: string;
  initiatorName: string;
  /** See `securityCredential()`. */
  securityCredential: string;
  command: B2cCommand;
  amount: number;
  /** B2C shortcode (PartyA). */
  shortcode: string;
  phone: string;
  remarks: string;
  resultUrl: string;
  queueTimeoutUrl: string;
  occasion?: string | undefined;
}

export interface B2cPayload {
  OriginatorConversationID: string;
  InitiatorName: string;
  SecurityCredential: string;
  CommandID: B2cCommand;
  Amount: number;
  PartyA: number;
  PartyB: number;
  Remarks: string;
  QueueTimeOutURL: string;
  ResultURL: string;
  /** Spelled `Occassion` in the v3 docs sample (daraja.md §1.4); kept byte-exact. */
  Occassion?: string;
}

export function buildB2cPayload(input: B2cInput): B2cPayload {
  const issues = new Issues();
  if (!/^[\w-]{1,64}$/.test(input.originatorConversationId ?? '')) {
    issues.add('originatorConversationId', 'must be 1-64 letters, digits, dash or underscore');
  }
  if (!input.initiatorName) issues.add('initiatorName', 'is required');
  if (!input.securityCredential) issues.add('securityCredential', 'is required');
  if (!['BusinessPayment', 'SalaryPayment', 'PromotionPayment'].includes(input.command)) {
    issues.add('command', 'must be BusinessPayment, SalaryPayment or PromotionPayment');
  }
  checkAmount(issues, 'amount', input.amount);
  checkShortcode(issues, 'shortcode', input.shortcode);
  const phone = msisdnNumber(issues, 'phone', input.phone);
  checkRemarks(issues, 'remarks', input.remarks);
  checkUrl(issues, 'resultUrl', input.resultUrl);
  checkUrl(issues, 'queueTimeoutUrl', input.queueTimeoutUrl);
  if (input.occasion !== undefined) checkRemarks(issues, 'occasion', input.occasion, 1);
  issues.throwIfAny();
  return {
    OriginatorConversationID: input.originatorConversationId,
    InitiatorName: input.initiatorName,
    SecurityCredential: input.securityCredential,
    CommandID: input.command,
    Amount: input.amount,
    PartyA: Number(input.shortcode),
    PartyB: phone,
    Remarks: input.remarks,
    QueueTimeOutURL: input.queueTimeoutUrl,
    ResultURL: input.resultUrl,
    ...(input.occasion !== undefined ? { Occassion: input.occasion } : {}),
  };
}
