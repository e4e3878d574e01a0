/** What every Daraja-calling activity needs, and the one way to build its client for a channel. */
import type { DarajaClient, TokenCache } from '../src/daraja';
import type { Db } from '../src/db';
import type { Logger } from '../src/logger';
import {
  type ChannelCredentials,
  type ChannelUrlPolicy,
  channelDarajaClient,
} from '../src/platform/channels';
import type { SecretBox } from '../src/platform/secret-box';

export interface DarajaActivityDeps {
  db: Db;
  box: SecretBox;
  logger: Logger;
  /** Base URL Daraja calls back (MALIPO_PUBLIC_URL). */
  publicUrl: string;
  /** Mints the tokens in callback URLs. */
  callbackSecret: string;
  /** One OAuth token cache per process. */
  tokenCache: TokenCache;
  /** Daraja timeouts; the total timeout is what turns a slow request into an ambiguous one. */
  darajaTimeoutMs?: number | undefined;
  /** Injected for tests. */
  fetch?: typeof fetch | undefined;
  /** Where channel base URLs may point; every connection passes the outbound guard. */
  channelPolicy: ChannelUrlPolicy;
}

/** A refusal of the channel's base URL is a VALIDATION_ERROR: the activity treats it as not sent. */
export function darajaClientFor(
  c: ChannelCredentials,
  deps: Pick<DarajaActivityDeps, 'tokenCache' | 'darajaTimeoutMs' | 'fetch' | 'channelPolicy'>,
): DarajaClient {
  return channelDarajaClient(c, deps.channelPolicy, {
    tokenCache: deps.tokenCache,
    timeoutMs: deps.darajaTimeoutMs,
    fetch: deps.fetch,
  });
}
