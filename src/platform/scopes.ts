/** API key scopes: the closed list, and the one check that decides whether a key holds one. */

export const SCOPES = [
  'payments:create',
  'payments:read',
  'payouts:create',
  'payouts:read',
  'reversals:create',
  'reversals:read',
  'channels:read',
  'channels:write',
  'webhooks:manage',
  'links:manage',
  'balance:read',
  'keys:manage',
  'payments:resolve',
  'payouts:resolve',
  '*',
] as const;

export type Scope = (typeof SCOPES)[number];

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

/** `*` grants everything. */
export function hasScope(granted: readonly string[], needed: Scope): boolean {
  return granted.includes('*') || granted.includes(needed);
}

/** May a key holding `granted` hand out `wanted`? Only scopes it holds itself (or any, with `*`). */
export function canGrant(granted: readonly string[], wanted: readonly string[]): boolean {
  if (granted.includes('*')) return true;
  return wanted.every((s) => s !== '*' && granted.includes(s));
}

export type KeyEnvironment = 'test' | 'live';
export type ChannelEnvironment = 'simulator' | 'safaricom-sandbox' | 'production';
export const CHANNEL_ENVIRONMENTS = ['simulator', 'safaricom-sandbox', 'production'] as const;

/** A `test` key may use simulator and Safaricom sandbox channels; a `live` key only production ones. */
export function keyEnvironmentFor(channel: ChannelEnvironment): KeyEnvironment {
  return channel === 'production' ? 'live' : 'test';
}

/** Who did something, for the audit log and for authorisation. */
export interface AuthContext {
  merchantId: string;
  keyId: string;
  environment: KeyEnvironment;
  scopes: string[];
}
