/** A seedable random source and realistic Daraja ids (daraja.md §1.5, §10.5, §10.6), so simulator runs repeat. */

/** mulberry32: tiny, fast, good enough for a simulator; the same seed gives the same run. */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HEX = '0123456789abcdef';
const DIGITS = '0123456789';
const UPPER_ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';

export class IdFactory {
  constructor(private readonly random: () => number) {}

  chars(alphabet: string, n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(this.random() * alphabet.length)];
    return s;
  }

  /** Newer MerchantRequestID shape: `xxxx-xxxx-xxxx-<12 hex><7 digits>`. */
  merchantRequestId(): string {
    return `${this.chars(HEX, 4)}-${this.chars(HEX, 4)}-${this.chars(HEX, 4)}-${this.chars(HEX, 12)}${this.chars(DIGITS, 7)}`;
  }

  /** Error-envelope requestId, older `NNNN-NNNNNNNN-N` shape. */
  requestId(): string {
    return `${this.chars(DIGITS, 4)}-${this.chars(DIGITS, 8)}-${this.chars(DIGITS, 1)}`;
  }

  /** `AG_yyyyMMdd_` + 20 hex. */
  conversationId(at: Date): string {
    return `AG_${eat(at).slice(0, 8)}_${this.chars(HEX, 20)}`;
  }

  /** 10 upper-case alphanumerics; the first three encode the Nairobi date (year L=2017…, month A=Jan…, day 1-9 then A=10…V=31). */
  receipt(at: Date): string {
    const e = eat(at);
    const year = Number(e.slice(0, 4));
    const month = Number(e.slice(4, 6));
    const day = Number(e.slice(6, 8));
    const y = String.fromCharCode('L'.charCodeAt(0) + Math.max(0, Math.min(14, year - 2017)));
    const m = String.fromCharCode('A'.charCodeAt(0) + month - 1);
    const d = day <= 9 ? String(day) : String.fromCharCode('A'.charCodeAt(0) + day - 10);
    return `${y}${m}${d}${this.chars(UPPER_ALNUM, 7)}`;
  }
}

/** `YYYYMMDDHHmmssSSS` in Nairobi time (UTC+3, no DST). */
export function eat(at: Date): string {
  const e = new Date(at.getTime() + 3 * 3600_000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    p(e.getUTCFullYear(), 4) +
    p(e.getUTCMonth() + 1) +
    p(e.getUTCDate()) +
    p(e.getUTCHours()) +
    p(e.getUTCMinutes()) +
    p(e.getUTCSeconds()) +
    p(e.getUTCMilliseconds(), 3)
  );
}

/** Current CheckoutRequestID shape: `ws_CO_` + ddMMyyyyHHmmssSSS (Nairobi) + the 9 national digits. */
export function checkoutRequestId(at: Date, msisdn: string): string {
  const e = eat(at);
  const ddMMyyyy = e.slice(6, 8) + e.slice(4, 6) + e.slice(0, 4);
  return `ws_CO_${ddMMyyyy}${e.slice(8, 17)}${msisdn.slice(3)}`;
}
