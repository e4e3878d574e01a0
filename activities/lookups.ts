/**
 * Activity of workflow `darajaLookup`: send one Account Balance or Transaction Status request.
 * The channel's initiator password is loaded and encrypted here (SecurityCredential) and the
 * ResultURL token minted here, so neither ever enters workflow history or a log line.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { MissingCertificateError, securityCredentialFor } from '../src/daraja/certificates';
import { DarajaError, DarajaInputError } from '../src/daraja';
import { MalipoError } from '../src/domain/errors';
import { lookupResultPath } from '../src/lookups/hook';
import { LOOKUP_NOT_SENT } from '../src/domain/lookup';
import { type ChannelCredentials, loadChannelCredentials } from '../src/platform/channels';
import { type DarajaActivityDeps, darajaClientFor } from './daraja';
import type { LookupActivities, StartLookupInput, StartLookupResult } from './lookup-types';

export type LookupActivityDeps = DarajaActivityDeps;

const REMARKS = { account_balance: 'Balance lookup', transaction_status: 'Status lookup' } as const;

export function createLookupActivities(deps: LookupActivityDeps): LookupActivities {
  const refuse = (code: string, message: string): StartLookupResult => ({
    kind: 'rejected',
    by: 'malipo',
    code,
    message,
  });

  return {
    async startLookup(input: StartLookupInput): Promise<StartLookupResult> {
      const log = deps.logger.child({
        lookupId: input.lookupId,
        kind: input.kind,
        channelId: input.channelId,
      });
      let c: ChannelCredentials;
      try {
        c = await loadChannelCredentials(deps.db, deps.box, input.channelId);
      } catch (err) {
        if (err instanceof MalipoError && err.code === 'RESOURCE_NOT_FOUND') {
          return refuse('channel_unavailable', `channel ${input.channelId} no longer exists`);
        }
        // the database failed before anything was sent: safe to try again
        throw ApplicationFailure.retryable(`lookup not sent: ${(err as Error).message}`, LOOKUP_NOT_SENT);
      }
      if (!c.initiatorName || !c.initiatorPassword) {
        return refuse(
          'initiator_missing',
          `channel ${c.channelId} has no initiator name and password (set them with PATCH /v1/channels/${c.channelId})`,
        );
      }
      let credential: string;
      try {
        credential = securityCredentialFor(c.environment, c.initiatorPassword);
      } catch (err) {
        const code = err instanceof MissingCertificateError ? 'certificate_missing' : 'credential_failed';
        log.error({ code, reason: (err as Error).message }, 'cannot build the SecurityCredential');
        return refuse(code, (err as Error).message);
      }

      const url = `${deps.publicUrl}${lookupResultPath(deps.callbackSecret, input.lookupId)}`;
      try {
        const client = darajaClientFor(c, deps);
        const common = {
          initiatorName: c.initiatorName,
          securityCredential: credential,
          resultUrl: url,
          queueTimeoutUrl: url,
          remarks: REMARKS[input.kind],
        };
        const ack =
          input.kind === 'account_balance'
            ? await client.accountBalance({ ...common, shortcode: c.shortcode, identifierType: 'shortcode' })
            : await client.transactionStatus({
                ...common,
                transactionId: input.receipt,
                originalConversationId: input.originatorConversationId,
                partyA: c.shortcode,
                identifierType: 'shortcode',
              });
        log.info({ conversationId: ack.conversationId }, 'lookup accepted by Daraja');
        return {
          kind: 'started',
          conversationId: ack.conversationId,
          originatorConversationId: ack.originatorConversationId,
        };
      } catch (err) {
        if (err instanceof DarajaInputError) return refuse('invalid_request', err.message);
        // the outbound guard refused the channel's base URL: nothing was sent
        if (err instanceof MalipoError && !(err instanceof DarajaError)) {
          return refuse('base_url_refused', err.message);
        }
        if (err instanceof DarajaError) {
          switch (err.kind) {
            case 'not_sent':
              throw ApplicationFailure.retryable(`lookup not sent: ${err.message}`, LOOKUP_NOT_SENT);
            case 'rejected':
              log.info({ code: err.errorCode, status: err.httpStatus }, 'lookup rejected by Daraja');
              return {
                kind: 'rejected',
                by: 'daraja',
                code: err.errorCode ?? String(err.httpStatus ?? 'unknown'),
                message: err.errorMessage ?? err.message,
              };
            case 'ambiguous':
              log.warn({ reason: err.message }, 'lookup outcome unknown');
              return { kind: 'ambiguous', reason: err.message };
          }
        }
        return { kind: 'ambiguous', reason: err instanceof Error ? err.message : String(err) };
      }
    },
  };
}
