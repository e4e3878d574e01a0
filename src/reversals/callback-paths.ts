/**
 * Daraja's ResultURL and QueueTimeOutURL for a reversal, and the ResultURL of its Transaction Status
 * lookups: `/hooks/daraja/reversal/<reversalId>/<token>/<kind>`, token = callbackToken(secret, 'reversal', id).
 */
import { callbackToken } from '../payments/callback-token';

export type ReversalCallbackKind = 'result' | 'timeout' | 'status';
export const REVERSAL_CALLBACK_KINDS: readonly ReversalCallbackKind[] = ['result', 'timeout', 'status'];

export function reversalCallbackPath(secret: string, reversalId: string, kind: ReversalCallbackKind): string {
  return `/hooks/daraja/reversal/${reversalId}/${callbackToken(secret, 'reversal', reversalId)}/${kind}`;
}
