/**
 * Activities of workflow `reversal`: send the one Reversal request, start Transaction Status lookups,
 * record each change. The initiator password is opened and encrypted into the SecurityCredential
 * here, and the ResultURL tokens are minted here, so neither enters workflow history.
 */
import { ApplicationFailure, activityInfo } from '@temporalio/activity';
import { securityCredentialFor } from '../src/daraja/certificates';
import { PaymentRepository } from '../src/payments/repository';
import { type ChannelCredentials, loadChannelCredentials } from '../src/platform/channels';
import { reversalCallbackPath } from '../src/reversals/callback-paths';
import { ReversalRepository } from '../src/reversals/repository';
import { type DarajaActivityDeps, darajaClientFor, sendFailure } from './daraja';
import {
  type InitiateReversalInput,
  type InitiateReversalResult,
  type QueryReversalStatusInput,
  type QueryReversalStatusResult,
  type RecordReversalStatusInput,
  type RecordReversalStatusResult,
  REVERSAL_INITIATION_ERRORS,
  type ReversalActivities,
} from './reversal-types';

export interface ReversalActivityDeps extends DarajaActivityDeps {
  /** Called after a change appended an event (webhook deliveries start here). */
  onEvent?: (eventId: string) => Promise<void>;
}

interface Initiator {
  c: ChannelCredentials;
  initiatorName: string;
  credential: string;
}

const misconfigured = (channelId: string, err: unknown): ApplicationFailure =>
  ApplicationFailure.nonRetryable(
    `channel ${channelId} cannot send reversals: ${err instanceof Error ? err.message : String(err)}`,
    REVERSAL_INITIATION_ERRORS.misconfigured,
  );

export function createReversalActivities(deps: ReversalActivityDeps): ReversalActivities {
  const repo = new ReversalRepository(deps.db);
  // events are one table for payments, payouts and reversals
  const events = new PaymentRepository(deps.db);

  async function initiator(channelId: string): Promise<Initiator> {
    let c: ChannelCredentials;
    try {
      c = await loadChannelCredentials(deps.db, deps.box, channelId);
    } catch (err) {
      throw misconfigured(channelId, err);
    }
    if (!c.initiatorName || !c.initiatorPassword) {
      throw misconfigured(channelId, new Error('it has no initiator name and password'));
    }
    let credential: string;
    try {
      credential = securityCredentialFor(c.environment, c.initiatorPassword);
    } catch (err) {
      throw misconfigured(channelId, err);
    }
    return { c, initiatorName: c.initiatorName, credential };
  }

  const client = (c: ChannelCredentials) => darajaClientFor(c, deps);
  const url = (reversalId: string, kind: 'result' | 'timeout' | 'status') =>
    `${deps.publicUrl}${reversalCallbackPath(deps.callbackSecret, reversalId, kind)}`;

  return {
    async initiateReversal(input: InitiateReversalInput): Promise<InitiateReversalResult> {
      const { c, initiatorName, credential } = await initiator(input.channelId);
      const log = deps.logger.child({ reversalId: input.reversalId });
      // The never-twice guard: mark the request before sending it.
      if (!(await repo.markRequest(input.reversalId))) {
        log.warn(
          { attempt: activityInfo().attempt },
          'an earlier attempt may have sent this reversal; not sending again',
        );
        return { kind: 'ambiguous', reason: 'an earlier attempt of this reversal may have reached Daraja' };
      }
      try {
        const ack = await client(c).reversal({
          initiatorName,
          securityCredential: credential,
          transactionId: input.receipt,
          amount: input.amount,
          receiverParty: c.shortcode,
          resultUrl: url(input.reversalId, 'result'),
          queueTimeoutUrl: url(input.reversalId, 'timeout'),
          remarks: input.remarks,
        });
        await repo.setRequestOutcome(input.reversalId, 'accepted');
        log.info({ conversationId: ack.conversationId }, 'reversal request accepted');
        return {
          kind: 'accepted',
          conversationId: ack.conversationId,
          originatorConversationId: ack.originatorConversationId,
        };
      } catch (err) {
        return sendFailure(err, {
          noun: 'reversal',
          notSentType: REVERSAL_INITIATION_ERRORS.notSent,
          setOutcome: (outcome) => repo.setRequestOutcome(input.reversalId, outcome),
          log,
          logName: 'reversal request',
        });
      }
    },

    async queryReversalStatus(input: QueryReversalStatusInput): Promise<QueryReversalStatusResult> {
      const { c, initiatorName, credential } = await initiator(input.channelId);
      try {
        const ack = await client(c).transactionStatus({
          initiatorName,
          securityCredential: credential,
          ...(input.transactionId ? { transactionId: input.transactionId } : {}),
          ...(input.originatorConversationId
            ? { originalConversationId: input.originatorConversationId }
            : {}),
          partyA: c.shortcode,
          identifierType: 'shortcode',
          resultUrl: url(input.reversalId, 'status'),
          queueTimeoutUrl: url(input.reversalId, 'status'),
          remarks: 'Reversal status',
        });
        return { kind: 'started', conversationId: ack.conversationId };
      } catch (err) {
        return { kind: 'unavailable', message: err instanceof Error ? err.message : String(err) };
      }
    },

    async recordReversalStatus(input: RecordReversalStatusInput): Promise<RecordReversalStatusResult> {
      const result = await repo.recordStatus(input);
      if (result.applied) {
        deps.logger.info(
          { reversalId: input.reversalId, status: input.status, version: input.version, by: input.decidedBy },
          input.reason,
        );
      }
      // On a retry the change is already applied; find its event so its deliveries still start.
      const eventId = result.eventId ?? (await events.eventIdFor(input.reversalId, input.version));
      if (eventId && deps.onEvent) await deps.onEvent(eventId);
      return result;
    },
  };
}
