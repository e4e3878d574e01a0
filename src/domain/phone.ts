/** Kenyan MSISDN normalisation and masking: every phone inside Malipo is `2547XXXXXXXX` or `2541XXXXXXXX`. */

declare const msisdnBrand: unique symbol;
/** A normalised Safaricom-range MSISDN, 12 digits, `2547…` or `2541…`. */
export type Msisdn = string & { readonly [msisdnBrand]: true };

export type PhoneResult = { ok: true; msisdn: Msisdn } | { ok: false; reason: string };

/**
 * Accepts the forms people type: `0712345678`, `0112345678`, `712345678`, `254712345678`,
 * `+254 712 345 678`, `254-712-345678`. Spaces, dashes, dots and brackets are ignored.
 */
export function normalizePhone(input: unknown): PhoneResult {
  if (typeof input !== 'string' && typeof input !== 'number') {
    return { ok: false, reason: 'phone must be a string such as 0712345678 or 254712345678' };
  }
  const raw = String(input).trim();
  if (raw.length === 0 || raw.length > 20) {
    return { ok: false, reason: 'phone must be a Kenyan mobile number such as 0712345678' };
  }
  const compact = raw.replace(/[\s\-.()]/g, '');
  if (!/^\+?\d+$/.test(compact)) {
    return { ok: false, reason: 'phone may contain only digits, spaces, dashes and a leading +' };
  }
  const digits = compact.startsWith('+') ? compact.slice(1) : compact;
  let national: string;
  if (digits.length === 12 && digits.startsWith('254')) national = digits.slice(3);
  else if (digits.length === 10 && digits.startsWith('0')) national = digits.slice(1);
  else if (digits.length === 9) national = digits;
  else return { ok: false, reason: 'phone must have 9 national digits, e.g. 0712345678 or 254712345678' };
  if (!/^[17]\d{8}$/.test(national)) {
    return { ok: false, reason: 'phone must be a Kenyan mobile number starting 07 or 01' };
  }
  return { ok: true, msisdn: `254${national}` as Msisdn };
}

/** `254712345678` → `2547****5678`: enough to recognise, not enough to call. */
export function maskPhone(phone: string): string {
  if (phone.length < 8) return '****';
  return `${phone.slice(0, 4)}****${phone.slice(-4)}`;
}
