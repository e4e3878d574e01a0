/** What every Daraja-calling activity needs, and the one way to build its client for a channel. */
import { DarajaClient, type TokenCache } from '../src/daraja';
import type { Db } from '../src/db';
import type { Logger } from '../src/logger';
import type { ChannelCredentials } from '../src/platform/channels';
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
}

export function darajaClientFor(
  c: ChannelCredentials,
  deps: Pick<DarajaActivityDeps, 'tokenCache' | 'darajaTimeoutMs' | 'fetch'>,
): DarajaClient {
  return new DarajaClient({
    baseUrl: c.baseUrl,
    consumerKey: c.consumerKey,
    consumerSecret: c.consumerSecret,
    tokenCache: deps.tokenCache,
    ...(deps.darajaTimeoutMs ? { timeoutMs: deps.darajaTimeoutMs } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });
}
