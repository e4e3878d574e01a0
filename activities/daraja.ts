/**
 * What every Daraja-calling activity needs, the one way to build its client for a channel, and what a
 * failed send of a one-shot asynchronous request (B2C, Reversal) means.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { type DarajaClient, DarajaError, DarajaInputError, type TokenCache } from '../src/daraja';
import type { Db } from '../src/db';
import { MalipoError } from '../src/domain/errors';
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

/** A one-shot request that failed: refused for sure (nothing moved), or of unknown outcome (never resent). */
export type SendFailure =
  | { kind: 'rejected'; code: string; message: string }
  | { kind: 'ambiguous'; reason: string };

/**
 * Classifies a failed send of a request that must never go twice, recording the outcome first:
 * our own pre-send refusal and Daraja's definite (non-5xx) rejection are `rejected`; a request that
 * provably never left throws a retryable failure of type `notSentType` (the outcome is cleared, so the
 * retry may send); everything else, a 5xx included, is `ambiguous`.
 */
export async function sendFailure(
  err: unknown,
  opts: {
    /** `payout`, `reversal`: names the retryable failure. */
    noun: string;
    notSentType: string;
    setOutcome: (outcome: 'rejected' | 'ambiguous' | null) => Promise<void>;
    log: Pick<Logger, 'info' | 'warn'>;
    /** `b2c payout request`, `reversal request`: names the log lines. */
    logName: string;
  },
): Promise<SendFailure> {
  if (err instanceof DarajaInputError || (err instanceof MalipoError && !(err instanceof DarajaError))) {
    // refused by our own pre-send checks: nothing left the process
    await opts.setOutcome(null);
    return { kind: 'rejected', code: err.code, message: err.message };
  }
  if (err instanceof DarajaError) {
    switch (err.kind) {
      case 'not_sent':
        await opts.setOutcome(null);
        throw ApplicationFailure.retryable(`${opts.noun} not sent: ${err.message}`, opts.notSentType);
      case 'rejected':
        // A 5xx is never a rejection we can trust: the request may have been processed.
        if ((err.httpStatus ?? 0) >= 500) break;
        await opts.setOutcome('rejected');
        opts.log.info({ code: err.errorCode, status: err.httpStatus }, `${opts.logName} rejected`);
        return {
          kind: 'rejected',
          code: err.errorCode ?? String(err.httpStatus ?? 'unknown'),
          message: err.errorMessage ?? err.message,
        };
      case 'ambiguous':
        break;
    }
  }
  await opts.setOutcome('ambiguous');
  const reason = err instanceof Error ? err.message : String(err);
  opts.log.warn({ reason }, `${opts.logName} outcome unknown; it will not be sent again`);
  return { kind: 'ambiguous', reason };
}
