/** STK Password and Nairobi-time Timestamp: pure functions, no clock of their own. */

/** Kenya (EAT) is UTC+3 all year: no daylight saving, so a fixed offset is exact. */
const NAIROBI_OFFSET_MS = 3 * 60 * 60 * 1000;

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * The Daraja `Timestamp` for an instant: `YYYYMMDDHHmmss` in Nairobi time.
 * Example: 2024-01-01T09:00:00Z → `20240101120000` (daraja.md §10.3).
 */
export function nairobiTimestamp(at: Date): string {
  const e = new Date(at.getTime() + NAIROBI_OFFSET_MS);
  return (
    pad(e.getUTCFullYear(), 4) +
    pad(e.getUTCMonth() + 1) +
    pad(e.getUTCDate()) +
    pad(e.getUTCHours()) +
    pad(e.getUTCMinutes()) +
    pad(e.getUTCSeconds())
  );
}

/** Parses a `YYYYMMDDHHmmss` Nairobi-time string (string or number) back to an instant; undefined if malformed. */
export function parseNairobiTimestamp(value: string | number): Date | undefined {
  const s = String(value).trim();
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const utc = Date.UTC(y, mo - 1, d, h, mi, se);
  const check = new Date(utc);
  // reject impossible dates such as 20240231 (Date.UTC would roll them over)
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || se > 59)
    return undefined;
  return new Date(utc - NAIROBI_OFFSET_MS);
}

/**
 * STK `Password` = base64(BusinessShortCode + Passkey + Timestamp), plain concatenation.
 * Worked example (daraja.md §10.1): `174379` + `bfb279f9…c919` + `20160216165627`
 * → `MTc0Mzc5YmZiMjc5ZjlhYTliZGJj…MTY1NjI3` (84 input chars, 112 output chars).
 * The body's `Timestamp` must be the very same string, or Daraja answers "Wrong credentials".
 */
export function stkPassword(shortcode: string | number, passkey: string, timestamp: string): string {
  return Buffer.from(`${shortcode}${passkey}${timestamp}`, 'utf8').toString('base64');
}
