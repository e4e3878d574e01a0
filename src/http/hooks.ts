/**
 * What the Daraja hook routes share: the acknowledgement Daraja expects, and the token check that
 * turns a wrong token into the same 404 an unknown route gets (and a log line, never the token).
 */
import type { Request } from 'express';
import { z } from 'zod';
import { MalipoError } from '../domain/errors';
import { type CallbackPurpose, verifyCallbackToken } from '../payments/callback-token';

/** Daraja's "received" answer: sent once the token is valid, whatever the body held. */
export const DARAJA_ACK = { ResultCode: 0, ResultDesc: 'Accepted' } as const;

export const darajaAckResponses = {
  200: {
    description: 'Always acknowledged once the token is valid',
    schema: z.object({ ResultCode: z.literal(0), ResultDesc: z.string() }),
  },
};

export function assertHookToken(
  req: Request,
  secret: string,
  purpose: CallbackPurpose,
  id: string,
  token: string,
): void {
  if (verifyCallbackToken(secret, purpose, id, token)) return;
  req.log?.warn({ purpose, id }, 'Daraja hook with a wrong token refused');
  throw new MalipoError('RESOURCE_NOT_FOUND', `No route for POST ${req.path.replace(token, '…')}`);
}
