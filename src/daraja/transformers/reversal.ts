/** Reversal: the request payload (daraja.md §8.7). */
import { Issues, checkAmount, checkShortcode, checkUrl, checkRemarks } from './common';

// ---------------------------------------------------------------------------------------------
// Reversal (daraja.md §8.7)

export interface ReversalRequestInput {
  initiatorName: string;
  securityCredential: string;
  /** The M-Pesa receipt of the transaction to reverse. */
  transactionId: string;
  /** Whole KES to reverse (at most the original amount; M-Pesa checks the rest). */
  amount: number;
  /** The shortcode that received the original payment. */
  receiverParty: string;
  resultUrl: string;
  queueTimeoutUrl: string;
  remarks: string;
  occasion?: string | undefined;
}

export interface ReversalPayload {
  Initiator: string;
  SecurityCredential: string;
  CommandID: 'TransactionReversal';
  TransactionID: string;
  Amount: number;
  ReceiverParty: string;
  /** Spelled `RecieverIdentifierType` by Daraja (daraja.md §1.4); `"11"` = organisation shortcode. */
  RecieverIdentifierType: '11';
  ResultURL: string;
  QueueTimeOutURL: string;
  Remarks: string;
  Occasion?: string;
}

export function buildReversalPayload(input: ReversalRequestInput): ReversalPayload {
  const issues = new Issues();
  if (!input.initiatorName) issues.add('initiatorName', 'is required');
  if (!input.securityCredential) issues.add('securityCredential', 'is required');
  if (!/^[A-Z0-9]{10}$/.test(input.transactionId ?? '')) {
    issues.add('transactionId', 'must be a 10-character M-Pesa receipt');
  }
  checkAmount(issues, 'amount', input.amount);
  checkShortcode(issues, 'receiverParty', input.receiverParty);
  checkUrl(issues, 'resultUrl', input.resultUrl);
  checkUrl(issues, 'queueTimeoutUrl', input.queueTimeoutUrl);
  checkRemarks(issues, 'remarks', input.remarks);
  if (input.occasion !== undefined) checkRemarks(issues, 'occasion', input.occasion, 1);
  issues.throwIfAny();
  return {
    Initiator: input.initiatorName,
    SecurityCredential: input.securityCredential,
    CommandID: 'TransactionReversal',
    TransactionID: input.transactionId,
    Amount: input.amount,
    ReceiverParty: String(input.receiverParty),
    RecieverIdentifierType: '11',
    ResultURL: input.resultUrl,
    QueueTimeOutURL: input.queueTimeoutUrl,
    Remarks: input.remarks,
    ...(input.occasion !== undefined ? { Occasion: input.occasion } : {}),
  };
}
