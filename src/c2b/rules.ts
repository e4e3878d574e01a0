/**
 * C2B rules as pure functions: how a channel's validation rule decides, which payment link a
 * customer's account number names, and how M-Pesa's TransAmount becomes whole KES.
 */
import type { C2B_REJECT_CODES } from '../daraja/transformers';
import type { LinkAmount, LinkStatus } from '../links/links';

/**
 * How a channel answers Daraja's validation request.
 * - `accept_all`: every payment is accepted (Daraja's behaviour when validation is off).
 * - `open_links`: only payments whose account number (BillRefNumber) is the reference of an open
 *   payment link of the merchant, for an amount the link admits.
 */
export type C2bValidationRule = 'accept_all' | 'open_links';
export const C2B_VALIDATION_RULES: readonly C2bValidationRule[] = ['accept_all', 'open_links'];

/** What M-Pesa does when the validation URL does not answer in time (Daraja's ResponseType). */
export type C2bResponseType = 'Completed' | 'Cancelled';
export const C2B_RESPONSE_TYPES: readonly C2bResponseType[] = ['Completed', 'Cancelled'];

export type C2bRejectReason = keyof typeof C2B_REJECT_CODES;

export type C2bDecision =
  | { accept: true; linkId: string | null }
  | { accept: false; reason: C2bRejectReason };

/** A payment link as the rules see it. */
export interface LinkCandidate {
  id: string;
  reference: string;
  amount: LinkAmount;
  status: LinkStatus;
  createdAt: Date;
}

/** Account numbers are compared trimmed and case-insensitively ("inv-7 " pays link "INV-7"). */
export function sameReference(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

/** Does the link's amount rule admit `amount` (KES, possibly with cents)? */
export function admits(rule: LinkAmount, amount: number): boolean {
  return typeof rule === 'number' ? amount === rule : amount >= rule.min && amount <= rule.max;
}

/**
 * The `open_links` rule. `links` are the merchant's links in the channel's environment (any status).
 * No open link with that reference → invalid account (C2B00012); open links with it but none admitting
 * the amount → invalid amount (C2B00013).
 */
export function decideOpenLinks(billRefNumber: string, amount: number, links: LinkCandidate[]): C2bDecision {
  if (billRefNumber.trim() === '') return { accept: false, reason: 'invalid_account' };
  const open = links.filter((l) => l.status === 'active' && sameReference(l.reference, billRefNumber));
  if (open.length === 0) return { accept: false, reason: 'invalid_account' };
  const fit = open.find((l) => admits(l.amount, amount));
  return fit ? { accept: true, linkId: fit.id } : { accept: false, reason: 'invalid_amount' };
}

/**
 * The link a confirmed payment belongs to, if its account number names one: an open link that admits
 * the amount, else an open link, else the newest link with that reference (the money was paid against
 * it whatever its state, so its stats count it).
 */
export function linkForPayment(billRefNumber: string, amount: number, links: LinkCandidate[]): string | null {
  if (billRefNumber.trim() === '') return null;
  const named = links
    .filter((l) => sameReference(l.reference, billRefNumber))
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  const open = named.filter((l) => l.status === 'active');
  return (open.find((l) => admits(l.amount, amount)) ?? open[0] ?? named[0])?.id ?? null;
}

/**
 * M-Pesa's TransAmount ("250.00") as whole KES. Customers pay whole shillings, so cents are not
 * expected; if they ever come, the payment is still recorded (a confirmation is final and must not be
 * lost) with `kes` rounded down and `exact: false`, and the exact amount kept in the payment's metadata.
 * An amount below KES 1 (or not a number) cannot be a payment row: `kes` is undefined.
 */
export function wholeKes(amount: number): { kes: number | undefined; exact: boolean } {
  if (!Number.isFinite(amount) || amount < 1) return { kes: undefined, exact: false };
  const kes = Math.floor(amount);
  return { kes: Number.isSafeInteger(kes) && kes <= 2_147_483_647 ? kes : undefined, exact: kes === amount };
}

/** Cuts text to at most `max` characters without splitting a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const chars = Array.from(text);
  let out = '';
  for (const c of chars) {
    if (out.length + c.length > max) break;
    out += c;
  }
  return out;
}
