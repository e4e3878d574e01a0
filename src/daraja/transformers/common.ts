/**
 * What the Daraja transformers share: the field rules checked before anything is sent (daraja.md §3.1,
 * §9), the code-as-string schema and the acknowledgement every async API answers with.
 */
import { z } from 'zod';
import type { FieldIssue } from '../../domain/errors';
import { MAX_TRANSACTION_KES } from '../../domain/money';
import { normalizePhone } from '../../domain/phone';
import { DarajaInputError } from '../errors';

// ---------------------------------------------------------------------------------------------
// Field rules

/** Characters allowed in AccountReference / TransactionDesc / Remarks: others caused silent failures (§9.7). */
export const SAFE_TEXT = /^[A-Za-z0-9 ._-]*$/;
export const ACCOUNT_REFERENCE_MAX = 12;
export const TRANSACTION_DESC_MAX = 13;

export class Issues {
  readonly list: FieldIssue[] = [];
  add(path: string, message: string, code = 'invalid'): void {
    this.list.push({ path, message, code });
  }
  throwIfAny(): void {
    if (this.list.length > 0) throw new DarajaInputError(this.list);
  }
}

export function checkText(issues: Issues, path: string, value: string, min: number, max: number): void {
  if (typeof value !== 'string') {
    issues.add(path, 'must be a string', 'invalid_type');
    return;
  }
  if (value.length < min || value.length > max)
    issues.add(path, `must be ${min}-${max} characters`, 'invalid_length');
  else if (!SAFE_TEXT.test(value))
    issues.add(path, 'may use only letters, digits, space, dot, dash and underscore');
  else if (min > 0 && value.trim() === '') issues.add(path, 'must not be blank');
}

export function checkAmount(issues: Issues, path: string, value: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_TRANSACTION_KES) {
    issues.add(path, `must be a whole number of KES from 1 to ${MAX_TRANSACTION_KES}`, 'invalid_amount');
  }
}

export function checkShortcode(issues: Issues, path: string, value: string): void {
  if (!/^\d{5,7}$/.test(String(value))) issues.add(path, 'must be a 5-7 digit shortcode');
}

export function checkUrl(issues: Issues, path: string, value: string): void {
  let ok = false;
  if (typeof value === 'string' && !/\s/.test(value)) {
    try {
      const u = new URL(value);
      ok = u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      ok = false;
    }
  }
  if (!ok) issues.add(path, 'must be an http(s) URL without spaces');
}

export function msisdnNumber(issues: Issues, path: string, value: string): number {
  const r = normalizePhone(value);
  if (!r.ok) {
    issues.add(path, r.reason, 'invalid_phone');
    return 0;
  }
  return Number(r.msisdn);
}

/** Daraja sends codes as strings or numbers; Malipo reads them as strings. */
export const codeString = z.union([z.string(), z.number()]).transform((v) => String(v));

export function checkRemarks(issues: Issues, path: string, value: string, min = 2): void {
  checkText(issues, path, value, min, 100);
}

// ---------------------------------------------------------------------------------------------
// Async APIs: shared acknowledgement

export const AsyncAckSchema = z.object({
  OriginatorConversationID: z.string().optional().default(''),
  ConversationID: z.string().optional().default(''),
  ResponseCode: codeString,
  ResponseDescription: z.string().optional().default(''),
});

export interface AsyncAck {
  originatorConversationId: string;
  conversationId: string;
  responseCode: string;
  responseDescription: string;
}

export function toAsyncAck(r: z.output<typeof AsyncAckSchema>): AsyncAck {
  return {
    originatorConversationId: r.OriginatorConversationID,
    conversationId: r.ConversationID,
    responseCode: r.ResponseCode,
    responseDescription: r.ResponseDescription,
  };
}
