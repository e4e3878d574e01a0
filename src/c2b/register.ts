/**
 * Registering a channel's C2B URLs with Daraja (Register URL v2), and turning Daraja's refusals into
 * errors a merchant can act on: already registered (production registers once), a shortcode that may
 * not register (the STK-only 174379), a field Daraja calls invalid, or Daraja unreachable.
 */
import type { Db } from '../db';
import { DarajaError, type TokenCache } from '../daraja';
import { MalipoError } from '../domain/errors';
import type { Actor } from '../platform/audit';
import {
  assertChannelEnvironment,
  type ChannelUrlPolicy,
  channelCredentials,
  channelDarajaClient,
} from '../platform/channels';
import type { AuthContext } from '../platform/scopes';
import type { SecretBox } from '../platform/secret-box';
import { type C2bChannel, type C2bRepository, payShortcodeOf } from './repository';
import type { C2bResponseType, C2bValidationRule } from './rules';
import { c2bHookUrls } from './urls';

export interface C2bRegisterDeps {
  db: Db;
  box: SecretBox;
  repo: C2bRepository;
  /** Where Daraja reaches Malipo (`MALIPO_PUBLIC_URL`). */
  publicUrl: string;
  /** Mints the hook path tokens. */
  callbackSecret: string;
  darajaTimeoutMs?: number | undefined;
  tokenCache?: TokenCache | undefined;
  /** Injected fetch (tests); node:http otherwise. */
  fetch?: typeof fetch | undefined;
  /** Where channel base URLs may point; every connection passes the outbound guard. */
  channelPolicy: ChannelUrlPolicy;
}

export interface C2bRegisterInput {
  responseType: C2bResponseType;
  validation?: C2bValidationRule | undefined;
}

/** Registers the channel's validation and confirmation URLs, then stores the settings. */
export async function registerC2bUrls(
  deps: C2bRegisterDeps,
  auth: Pick<AuthContext, 'merchantId' | 'environment'>,
  channelId: string,
  input: C2bRegisterInput,
  by: Actor,
): Promise<C2bChannel> {
  const row = await deps.repo.merchantChannel(auth.merchantId, channelId);
  assertChannelEnvironment(auth.environment, row.environment);
  if (row.status !== 'active') throw new MalipoError('CONFLICT', `Channel ${row.id} is disabled`);
  const creds = channelCredentials(row, deps.box);
  const shortcode = payShortcodeOf(row);
  const client = channelDarajaClient(creds, deps.channelPolicy, {
    timeoutMs: deps.darajaTimeoutMs,
    tokenCache: deps.tokenCache,
    fetch: deps.fetch,
  });
  const urls = c2bHookUrls(deps.publicUrl, deps.callbackSecret, row.id);
  let conversationId: string;
  try {
    const ack = await client.registerC2bUrls({
      shortcode,
      defaultAction: input.responseType === 'Completed' ? 'complete' : 'cancel',
      ...urls,
    });
    conversationId = ack.originatorConversationId;
  } catch (err) {
    if (err instanceof DarajaError) throw registerFailure(err, shortcode);
    throw err; // DarajaInputError is already a VALIDATION_ERROR naming the field
  }
  return deps.repo.saveRegistration(
    row,
    { responseType: input.responseType, validation: input.validation, conversationId },
    by,
  );
}

/** What Daraja said, for `details` (never the raw body: it may echo a URL with its token). */
function darajaDetail(err: DarajaError, code: string) {
  const said = [err.errorCode, err.errorMessage].filter(Boolean).join(' ') || `HTTP ${err.httpStatus ?? '?'}`;
  return { path: 'daraja', message: said, code };
}

/** Maps a Daraja refusal of a registration to 409, 400 or 502 in the one error envelope. */
export function registerFailure(err: DarajaError, shortcode: string): MalipoError {
  const said = `${err.errorCode ?? ''} ${err.errorMessage ?? ''}`;
  const opts = (code: string) => ({ details: [darajaDetail(err, code)], cause: err });
  if (err.kind === 'rejected' && /already\s+registered|duplicate notification/i.test(said)) {
    return new MalipoError(
      'CONFLICT',
      `Daraja already has C2B URLs registered for shortcode ${shortcode} (production registers them once): ` +
        'delete them on the Daraja portal (self-service), then register again',
      opts('already_registered'),
    );
  }
  if (err.kind === 'rejected' && err.httpStatus === 409) {
    const hint =
      shortcode === '174379'
        ? ': 174379 is the STK-only sandbox shortcode; use a C2B shortcode such as 600984'
        : '';
    return new MalipoError(
      'CONFLICT',
      `Daraja refused to register C2B URLs for shortcode ${shortcode}${hint}`,
      opts('register_refused'),
    );
  }
  if (err.kind === 'rejected' && err.errorCode === '400.002.02') {
    return new MalipoError(
      'VALIDATION_ERROR',
      `Daraja refused the registration: ${err.errorMessage ?? 'Bad Request'}`,
      opts('daraja_invalid'),
    );
  }
  if (err.kind === 'rejected' && (err.isInvalidToken || /oauth/.test(err.endpoint ?? ''))) {
    return new MalipoError(
      'UPSTREAM_ERROR',
      'Daraja refused the channel’s consumer key and secret (or the app lacks the C2B product)',
      opts('daraja_auth'),
    );
  }
  const what =
    err.kind === 'rejected'
      ? `Daraja refused the C2B registration (${said.trim() || `HTTP ${err.httpStatus}`})`
      : err.kind === 'not_sent'
        ? 'Daraja could not be reached; nothing was registered, try again'
        : 'Daraja gave no usable answer; registering again is safe';
  return new MalipoError('UPSTREAM_ERROR', what, opts(`daraja_${err.kind}`));
}
