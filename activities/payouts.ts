/**
 * Activities of workflow `b2cPayout`: send the one B2C request, start Transaction Status lookups,
 * record each change. The initiator password is opened and encrypted into the SecurityCredential
 * here, and the ResultURL tokens are minted here, so neither enters workflow history.
 */
import { ApplicationFailure, activityInfo } from '@temporalio/activity';
import { securityCredentialFor } from '../src/daraja/certificates';
import { maskPhone } from '../src/domain/phone';
import { payoutCallbackPath } from '../src/payouts/callback-paths';
import { PaymentRepository } from '../src/payments/repository';
import { PayoutRepository } from '../src/payouts/repository';
import { type ChannelCredentials, loadChannelCredentials } from '../src/platform/channels';
import { type DarajaActivityDeps, darajaClientFor, sendFailure } from './daraja';
import {
  type InitiateB2cPayoutInput,
  type InitiateB2cPayoutResult,
  PAYOUT_INITIATION_ERRORS,
  type PayoutActivities,
  type QueryPayoutStatusInput,
  type QueryPayoutStatusResult,
  type RecordPayoutStatusInput,
  type RecordPayoutStatusResult,
} from './payout-types';

export interface PayoutActivityDeps extends DarajaActivityDeps {
  /** Called after a change appended an event (webhook deliveries start here). */
  onEvent?: (eventId: string) => Promise<void>;
}

/** A channel that can pay out: its credentials plus the initiator, or a non-retryable failure. */
interface Initiator {
  c: ChannelCredentials;
  initiatorName: string;
  credential: string;
}

/** The SecurityCredential; a channel whose environment has no certificate here cannot pay out (nothing sent). */
function credentialFor(
  channelId: string,
  environment: ChannelCredentials['environment'],
  password: string,
): string {
  try {
    return securityCredentialFor(environment, password);
  } catch (err) {
    throw ApplicationFailure.nonRetryable(
      `channel ${channelId} cannot pay out: ${err instanceof Error ? err.message : String(err)}`,
      PAYOUT_INITIATION_ERRORS.misconfigured,
    );
  }
}

export function createPayoutActivities(deps: PayoutActivityDeps): PayoutActivities {
  const repo = new PayoutRepository(deps.db);
  // events are one table for payments and payouts
  const events = new PaymentRepository(deps.db);

  async function initiator(channelId: string): Promise<Initiator> {
    let c: ChannelCredentials;
    try {
      c = await loadChannelCredentials(deps.db, deps.box, channelId);
    } catch (err) {
      throw ApplicationFailure.nonRetryable(
        `channel ${channelId} cannot pay out: ${err instanceof Error ? err.message : String(err)}`,
        PAYOUT_INITIATION_ERRORS.misconfigured,
      );
    }
    if (!c.initiatorName || !c.initiatorPassword) {
      throw ApplicationFailure.nonRetryable(
        `channel ${channelId} has no initiator name and password`,
        PAYOUT_INITIATION_ERRORS.misconfigured,
      );
    }
    return {
      c,
      initiatorName: c.initiatorName,
      credential: credentialFor(c.channelId, c.environment, c.initiatorPassword),
    };
  }

  const client = (c: ChannelCredentials) => darajaClientFor(c, deps);

  const url = (payoutId: string, kind: 'result' | 'timeout' | 'status') =>
    `${deps.publicUrl}${payoutCallbackPath(deps.callbackSecret, payoutId, kind)}`;

  return {
    async initiateB2cPayout(input: InitiateB2cPayoutInput): Promise<InitiateB2cPayoutResult> {
      const { c, initiatorName, credential } = await initiator(input.channelId);
      const log = deps.logger.child({ payoutId: input.payoutId });

      // The never-twice guard: mark the request before sending it. An attempt that finds the mark
      // cannot know whether the earlier one reached Daraja, so it must not send again.
      if (!(await repo.markRequest(input.payoutId))) {
        log.warn(
          { attempt: activityInfo().attempt },
          'an earlier attempt may have sent this payout; not sending again',
        );
        return { kind: 'ambiguous', reason: 'an earlier attempt of this payout may have reached Daraja' };
      }
      try {
        const ack = await client(c).b2cPayment({
          originatorConversationId: input.payoutId,
          initiatorName,
          securityCredential: credential,
          command: input.commandId,
          amount: input.amount,
          shortcode: c.shortcode,
          phone: input.phone,
          remarks: input.remarks,
          occasion: input.occasion,
          resultUrl: url(input.payoutId, 'result'),
          queueTimeoutUrl: url(input.payoutId, 'timeout'),
        });
        await repo.setRequestOutcome(input.payoutId, 'accepted');
        log.info(
          { phone: maskPhone(input.phone), conversationId: ack.conversationId },
          'b2c payout request accepted',
        );
        return {
          kind: 'accepted',
          conversationId: ack.conversationId,
          originatorConversationId: ack.originatorConversationId || input.payoutId,
        };
      } catch (err) {
        return sendFailure(err, {
          noun: 'payout',
          notSentType: PAYOUT_INITIATION_ERRORS.notSent,
          setOutcome: (outcome) => repo.setRequestOutcome(input.payoutId, outcome),
          log,
          logName: 'b2c payout request',
        });
      }
    },

    async queryPayoutStatus(input: QueryPayoutStatusInput): Promise<QueryPayoutStatusResult> {
      const { c, initiatorName, credential } = await initiator(input.channelId);
      try {
        const ack = await client(c).transactionStatus({
          initiatorName,
          securityCredential: credential,
          ...(input.receipt ? { transactionId: input.receipt } : {}),
          originalConversationId: input.originatorConversationId,
          partyA: c.shortcode,
          identifierType: 'shortcode',
          resultUrl: url(input.payoutId, 'status'),
          queueTimeoutUrl: url(input.payoutId, 'status'),
          remarks: 'Payout status',
        });
        return { kind: 'started', conversationId: ack.conversationId };
      } catch (err) {
        return { kind: 'unavailable', message: err instanceof Error ? err.message : String(err) };
      }
    },

    async recordPayoutStatus(input: RecordPayoutStatusInput): Promise<RecordPayoutStatusResult> {
      const result = await repo.recordStatus(input);
      if (result.applied && input.suspicious !== undefined) {
        deps.logger.warn(
          {
            payoutId: input.payoutId,
            version: input.version,
            suspicious: input.suspicious,
            eventId: result.eventId,
          },
          'suspicious b2c Result recorded; it settles nothing',
        );
      } else if (result.applied) {
        deps.logger.info(
          { payoutId: input.payoutId, status: input.status, version: input.version, by: input.decidedBy },
          input.reason,
        );
      }
      // On a retry the change is already applied; find its event so its deliveries still start.
      const eventId = result.eventId ?? (await events.eventIdFor(input.payoutId, input.version));
      if (eventId && deps.onEvent) await deps.onEvent(eventId);
      return result;
    },
  };
}
