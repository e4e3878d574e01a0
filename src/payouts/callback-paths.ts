/**
 * Daraja's ResultURL and QueueTimeOutURL for a payout, and the ResultURL of its Transaction Status
 * lookups: `/hooks/daraja/b2c/<payoutId>/<token>/<kind>`, token = callbackToken(secret, 'b2c', payoutId).
 */
import { callbackToken } from '../payments/callback-token';

export type PayoutCallbackKind = 'result' | 'timeout' | 'status';
export const PAYOUT_CALLBACK_KINDS: readonly PayoutCallbackKind[] = ['result', 'timeout', 'status'];

export function payoutCallbackPath(secret: string, payoutId: string, kind: PayoutCallbackKind): string {
  return `/hooks/daraja/b2c/${payoutId}/${callbackToken(secret, 'b2c', payoutId)}/${kind}`;
}
