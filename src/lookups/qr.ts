/**
 * Dynamic QR codes (daraja.md §8.6): a synchronous Daraja call, so no workflow. The credit party
 * (CPI) is the channel's till number for buy goods and its shortcode for paybill.
 */
import { DarajaError, TokenCache } from '../daraja';
import { type QrKind, SAFE_TEXT } from '../daraja/transformers';
import type { Db } from '../db';
import { MalipoError } from '../domain/errors';
import { type ChannelUrlPolicy, channelDarajaClient, resolveChannel } from '../platform/channels';
import { findMerchant } from '../platform/merchants';
import type { AuthContext } from '../platform/scopes';
import type { SecretBox } from '../platform/secret-box';

/** One OAuth token cache for the API process's QR calls (a new token may invalidate the previous one). */
const apiTokenCache = new TokenCache();

export type QrCodeKind = Extract<QrKind, 'paybill' | 'buy_goods'>;

export interface QrRequest {
  amount: number;
  reference: string;
  channelId?: string | undefined;
  size: number;
  kind?: QrCodeKind | undefined;
  merchantName?: string | undefined;
}

export interface QrCode {
  channelId: string;
  kind: QrCodeKind;
  amount: number;
  reference: string;
  size: number;
  requestId: string;
  /** The PNG, base64. */
  base64: string;
}

export interface QrDeps {
  db: Db;
  box: SecretBox;
  darajaTimeoutMs?: number | undefined;
  tokenCache?: TokenCache | undefined;
  fetch?: typeof fetch | undefined;
  /** Where channel base URLs may point; every connection passes the outbound guard. */
  channelPolicy: ChannelUrlPolicy;
}

export const MERCHANT_NAME_MAX = 100;

/** The merchant's name with only the characters Daraja takes safely; `Merchant` if nothing is left. */
export function safeMerchantName(name: string): string {
  const cleaned = [...name]
    .map((ch) => (SAFE_TEXT.test(ch) ? ch : ' '))
    .join('')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, MERCHANT_NAME_MAX)
    .trim();
  return cleaned || 'Merchant';
}

const invalid = (path: string, message: string) =>
  new MalipoError('VALIDATION_ERROR', 'The request body is invalid', {
    details: [{ path, message, code: 'custom' }],
  });

export async function generateQrCode(deps: QrDeps, auth: AuthContext, req: QrRequest): Promise<QrCode> {
  const { channel, credentials: c } = await resolveChannel(deps.db, deps.box, auth, req.channelId);
  const kind: QrCodeKind = req.kind ?? (c.type === 'till' ? 'buy_goods' : 'paybill');
  // Rule: a till is paid with buy goods (CPI = till number), a paybill with paybill (CPI = shortcode).
  if (kind === 'buy_goods' && c.type !== 'till') {
    throw invalid('kind', `channel ${channel.id} is a paybill; buy_goods needs a till channel`);
  }
  if (kind === 'paybill' && c.type !== 'paybill') {
    throw invalid('kind', `channel ${channel.id} is a till; paybill needs a paybill channel`);
  }
  const creditParty = kind === 'buy_goods' ? c.tillNumber : c.shortcode;
  if (!creditParty) throw invalid('channelId', `channel ${channel.id} has no till number`);
  const merchantName =
    req.merchantName ?? safeMerchantName((await findMerchant(deps.db, auth.merchantId))?.name ?? '');

  const client = channelDarajaClient(c, deps.channelPolicy, {
    tokenCache: deps.tokenCache ?? apiTokenCache,
    timeoutMs: deps.darajaTimeoutMs,
    fetch: deps.fetch,
  });
  try {
    const qr = await client.generateQr({
      merchantName,
      refNo: req.reference,
      amount: req.amount,
      kind,
      creditParty,
      size: req.size,
    });
    return {
      channelId: channel.id,
      kind,
      amount: req.amount,
      reference: req.reference,
      size: req.size,
      requestId: qr.requestId,
      base64: qr.qrCodePngBase64,
    };
  } catch (err) {
    if (err instanceof DarajaError) {
      const code = err.errorCode ?? (err.httpStatus ? String(err.httpStatus) : err.kind);
      // DarajaError.message is safe to show: Daraja's own fields or our words, never a connect error
      const message = err.errorMessage ?? err.message;
      throw new MalipoError('UPSTREAM_ERROR', `Daraja could not generate the QR code: ${message}`, {
        details: [{ path: 'daraja', message, code }],
        cause: err,
      });
    }
    // DarajaInputError is a VALIDATION_ERROR listing the fields: it passes through as a 400
    throw err;
  }
}
