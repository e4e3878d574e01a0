/**
 * Activities of workflow `stkPush`: send the push, ask Daraja for the status, record each change.
 * Credentials are loaded here from the database (they never enter workflow history), and the
 * CallBackURL token is minted here for the same reason.
 */
import { ApplicationFailure, activityInfo } from '@temporalio/activity';
import { DarajaError, DarajaInputError } from '../src/daraja';
import { MalipoError } from '../src/domain/errors';
import { maskPhone } from '../src/domain/phone';
import { stkCallbackPath } from '../src/payments/callback-token';
import type { Db } from '../src/db';
import { EVENT_TYPE, PaymentRepository } from '../src/payments/repository';
import type { EventHead, TargetSource } from '../src/webhooks/repository';
import { type ChannelCredentials, loadChannelCredentials } from '../src/platform/channels';
import { type DarajaActivityDeps, darajaClientFor } from './daraja';
import type {
  FindC2bMatchInput,
  FindC2bMatchResult,
  InitiateStkPushInput,
  InitiateStkPushResult,
  QueryStkStatusInput,
  QueryStkStatusResult,
  RecordPaymentStatusInput,
  RecordPaymentStatusResult,
  StkActivities,
} from './types';
import type { InlineDelivery } from './webhook-types';

export interface StkActivityDeps extends DarajaActivityDeps {
  /**
   * Plans the deliveries of an event a change appended (the webhook capability), returned to the
   * workflow, which makes each first attempt itself.
   */
  deliveries?: {
    /** In the change's own transaction: the new event's deliveries (none can exist yet). */
    planNew(trx: Db, event: EventHead, payment: TargetSource): Promise<InlineDelivery[]>;
    /** A retried change: its event's deliveries, as the first try planned them. */
    plan(eventId: string): Promise<InlineDelivery[]>;
  };
}

/** Daraja's "Unable to lock subscriber": another prompt is open on the phone. */
const PHONE_BUSY = /unable to lock subscriber/i;

export function createStkActivities(deps: StkActivityDeps): StkActivities {
  const repo = new PaymentRepository(deps.db);

  async function credentials(channelId: string): Promise<ChannelCredentials> {
    try {
      return await loadChannelCredentials(deps.db, deps.box, channelId);
    } catch (err) {
      throw ApplicationFailure.nonRetryable(
        `channel ${channelId} cannot push: ${err instanceof Error ? err.message : String(err)}`,
        'StkChannelMisconfigured',
      );
    }
  }

  const client = (c: ChannelCredentials) => darajaClientFor(c, deps);

  async function setPushOutcome(
    paymentId: string,
    pushNumber: number,
    outcome: string | null,
    answer?: InitiateStkPushResult,
  ): Promise<void> {
    if (outcome === null) {
      await deps.db
        .deleteFrom('stk_pushes')
        .where('payment_id', '=', paymentId)
        .where('push_number', '=', pushNumber)
        .execute();
      return;
    }
    await deps.db
      .updateTable('stk_pushes')
      .set({ outcome, ...(answer !== undefined ? { answer: JSON.stringify(answer) } : {}) })
      .where('payment_id', '=', paymentId)
      .where('push_number', '=', pushNumber)
      .execute();
  }

  return {
    async initiateStkPush(input: InitiateStkPushInput): Promise<InitiateStkPushResult> {
      const c = await credentials(input.channelId);
      const log = deps.logger.child({ paymentId: input.paymentId, push: input.pushNumber });

      // The double-push guard: mark the push before sending it. A retried attempt that finds the
      // mark cannot know whether the earlier one reached Daraja, so it must not send again.
      const marked = await deps.db
        .insertInto('stk_pushes')
        .values({ payment_id: input.paymentId, push_number: input.pushNumber })
        .onConflict((oc) => oc.doNothing())
        .returning('push_number')
        .executeTakeFirst();
      if (!marked) {
        // An earlier attempt whose answer was lost to the workflow (its workflow task timed out or its
        // worker died after the push returned) left Daraja's answer with the mark: the same answer
        // again, so the retried task decides as the lost one did. Without an answer, it is unknown.
        const earlier = await deps.db
          .selectFrom('stk_pushes')
          .select('answer')
          .where('payment_id', '=', input.paymentId)
          .where('push_number', '=', input.pushNumber)
          .executeTakeFirst();
        const answer = earlier?.answer as InitiateStkPushResult | null | undefined;
        if (answer && (answer.kind === 'accepted' || answer.kind === 'rejected')) {
          log.info(
            { attempt: activityInfo().attempt, kind: answer.kind },
            'an earlier attempt of this push was answered; answering the same, not sending again',
          );
          return answer;
        }
        log.warn(
          { attempt: activityInfo().attempt },
          'an earlier attempt may have sent this push; not sending again',
        );
        return { kind: 'ambiguous', reason: 'an earlier attempt of this push may have reached Daraja' };
      }

      try {
        const ack = await client(c).stkPush({
          shortcode: c.shortcode,
          passkey: c.passkey,
          type: c.type,
          tillNumber: c.tillNumber ?? undefined,
          amount: input.amount,
          phone: input.phone,
          callbackUrl: `${deps.publicUrl}${stkCallbackPath(deps.callbackSecret, input.paymentId)}`,
          accountReference: input.reference,
          description: input.description,
        });
        const accepted: InitiateStkPushResult = {
          kind: 'accepted',
          checkoutRequestId: ack.checkoutRequestId,
          merchantRequestId: ack.merchantRequestId,
          customerMessage: ack.customerMessage,
        };
        await setPushOutcome(input.paymentId, input.pushNumber, 'accepted', accepted);
        log.info(
          { phone: maskPhone(input.phone), checkoutRequestId: ack.checkoutRequestId },
          'stk push accepted',
        );
        return accepted;
      } catch (err) {
        if (
          err instanceof DarajaInputError ||
          (err instanceof MalipoError && !(err instanceof DarajaError))
        ) {
          // refused by our own pre-send checks: nothing left the process
          await setPushOutcome(input.paymentId, input.pushNumber, null);
          return {
            kind: 'rejected',
            code: err.code,
            message: err.message,
            transient: false,
            phoneBusy: false,
          };
        }
        if (err instanceof DarajaError) {
          switch (err.kind) {
            case 'not_sent':
              await setPushOutcome(input.paymentId, input.pushNumber, null);
              throw ApplicationFailure.retryable(`push not sent: ${err.message}`, 'StkPushNotSent');
            case 'rejected': {
              const text = `${err.errorMessage ?? ''} ${err.message}`;
              const rejected: InitiateStkPushResult = {
                kind: 'rejected',
                code: err.errorCode ?? String(err.httpStatus ?? 'unknown'),
                message: err.errorMessage ?? err.message,
                transient: err.transient,
                phoneBusy: PHONE_BUSY.test(text),
              };
              await setPushOutcome(input.paymentId, input.pushNumber, 'rejected', rejected);
              log.info({ code: err.errorCode, status: err.httpStatus }, 'stk push rejected');
              return rejected;
            }
            case 'ambiguous':
              await setPushOutcome(input.paymentId, input.pushNumber, 'ambiguous');
              log.warn({ reason: err.message }, 'stk push outcome unknown');
              return { kind: 'ambiguous', reason: err.message };
          }
        }
        // anything else happened after the mark, possibly after sending
        await setPushOutcome(input.paymentId, input.pushNumber, 'ambiguous');
        return { kind: 'ambiguous', reason: err instanceof Error ? err.message : String(err) };
      }
    },

    async queryStkStatus(input: QueryStkStatusInput): Promise<QueryStkStatusResult> {
      const c = await credentials(input.channelId);
      try {
        const r = await client(c).stkQuery({
          shortcode: c.shortcode,
          passkey: c.passkey,
          checkoutRequestId: input.checkoutRequestId,
        });
        if (r.status === 'pending') return { kind: 'pending' };
        return { kind: 'final', resultCode: r.resultCode, resultDesc: r.resultDesc };
      } catch (err) {
        if (err instanceof DarajaError && err.isPending) return { kind: 'pending' };
        return { kind: 'unavailable', message: err instanceof Error ? err.message : String(err) };
      }
    },

    async recordPaymentStatus(input: RecordPaymentStatusInput): Promise<RecordPaymentStatusResult> {
      const plans = deps.deliveries;
      const result = await repo.recordStatus(
        {
          paymentId: input.paymentId,
          version: input.version,
          status: input.status,
          checkoutRequestId: input.checkoutRequestId,
          merchantRequestId: input.merchantRequestId,
          mpesaReceipt: input.mpesaReceipt,
          transactionDate: input.transactionDate,
          resultCode: input.resultCode,
          resultDesc: input.resultDesc,
          failureReason: input.failureReason,
          reviewReason: input.reviewReason,
          resolvedBy: input.resolvedBy,
          matchedC2bPaymentId: input.matchedC2bPaymentId,
          resolution: input.resolution,
        },
        plans &&
          ((trx, eventId, row) =>
            plans.planNew(
              trx,
              {
                id: eventId,
                type: EVENT_TYPE[input.status] ?? '',
                merchant_id: row.merchant_id,
                environment: row.environment,
                payment_id: row.id,
              },
              row,
            )),
      );
      if (result.applied) {
        deps.logger.info(
          { paymentId: input.paymentId, status: input.status, version: input.version, by: input.decidedBy },
          input.reason,
        );
      }
      const { planned, ...written } = result;
      if (result.applied) return planned ? { ...written, deliveries: planned } : written;
      // On a retry the change is already applied; find its event so its deliveries are still handed
      // back (planning them is idempotent, so doing it twice is harmless and doing it never is not).
      // A change with no event (the acceptance) has none to find.
      const eventId =
        EVENT_TYPE[input.status] === null ? null : await repo.eventIdFor(input.paymentId, input.version);
      if (eventId && plans) return { ...written, eventId, deliveries: await plans.plan(eventId) };
      return written;
    },

    async findC2bMatch(input: FindC2bMatchInput): Promise<FindC2bMatchResult> {
      const match = await repo.claimC2bMatch({
        paymentId: input.paymentId,
        channelId: input.channelId,
        phone: input.phone,
        amount: input.amount,
        reference: input.reference,
        from: new Date(input.from),
        to: new Date(input.to),
      });
      if (!match) return { found: false };
      deps.logger.info(
        { paymentId: input.paymentId, c2bPaymentId: match.c2bPaymentId },
        'a C2B confirmation matches this payment in review',
      );
      return {
        found: true,
        c2bPaymentId: match.c2bPaymentId,
        mpesaReceipt: match.mpesaReceipt,
        ...(match.transactionDate !== null ? { transactionDate: match.transactionDate } : {}),
      };
    },
  };
}
