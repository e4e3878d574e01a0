/** The ResultURL / QueueTimeOutURL of a lookup: `/hooks/daraja/lookup/<lookupId>/<token>`. */
import { callbackToken } from '../payments/callback-token';

/** The path Daraja posts the Result to. It avoids the words Daraja refuses in URLs (mpesa, safaricom, query). */
export function lookupResultPath(secret: string, lookupId: string): string {
  return `/hooks/daraja/lookup/${lookupId}/${callbackToken(secret, 'lookup', lookupId)}`;
}
