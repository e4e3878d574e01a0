/** Prefixed, base62 resource ids (`pay_…`, `evt_…`, `key_…`), created in one place. */

export const ID_PREFIXES = {
  merchant: 'mer',
  apiKey: 'key',
  channel: 'ch',
  payment: 'pay',
  event: 'evt',
  delivery: 'dlv',
  webhookEndpoint: 'we',
  request: 'req',
  paymentLink: 'lnk',
  payout: 'po',
  lookup: 'lkp',
  audit: 'aud',
  user: 'usr',
  session: 'ses',
  reversal: 'rev',
} as const;

export type IdKind = keyof typeof ID_PREFIXES;
export type IdPrefix = (typeof ID_PREFIXES)[IdKind];

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Base62 text of `bytes` random bytes (rejection sampling, so every character is uniform). */
export function randomBase62(length: number): string {
  let out = '';
  const buf = new Uint8Array(length * 2);
  while (out.length < length) {
    globalThis.crypto.getRandomValues(buf);
    for (const b of buf) {
      if (b < 248) out += BASE62[b % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** A new id such as `pay_3xK9…`: 22 base62 characters ≈ 131 bits of randomness. */
export function newId(kind: IdKind): string {
  return `${ID_PREFIXES[kind]}_${randomBase62(22)}`;
}

export function hasPrefix(kind: IdKind, value: string): boolean {
  return new RegExp(`^${ID_PREFIXES[kind]}_[0-9A-Za-z]{6,64}$`).test(value);
}
