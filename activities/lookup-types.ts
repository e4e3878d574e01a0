/**
 * The contract between workflow `darajaLookup` and its activity `startLookup`: types only.
 * `createLookupActivities(deps)` (activities/lookups.ts) satisfies {@link LookupActivities}.
 */
import type { DarajaLookupInput } from '../src/domain/lookup';

export type StartLookupInput = Omit<DarajaLookupInput, 'waitMs'>;

/**
 * What one send of the request gave. Outcomes are returned, never thrown; the only throw is
 * `ApplicationFailure.retryable(msg, LOOKUP_NOT_SENT)` (src/domain/lookup.ts), for a request that provably never left
 * (connection refused, token failure), which the workflow sends again.
 */
export type StartLookupResult =
  | {
      kind: 'started';
      /** Daraja's ConversationID (`AG_…`), which its Result repeats. */
      conversationId: string;
      originatorConversationId: string;
    }
  | {
      kind: 'rejected';
      /** `daraja`: Daraja refused the request; `malipo`: it could not be built (channel, certificate, input). */
      by: 'daraja' | 'malipo';
      /** Daraja's errorCode (`400.002.02`) or HTTP status, or ours (`initiator_missing`, `certificate_missing`…). */
      code: string;
      message: string;
    }
  | {
      /** Sent, but no usable answer: a Result may still come. A lookup is a read, so this is harmless. */
      kind: 'ambiguous';
      reason: string;
    };

/** The activity the workflow calls. */
export interface LookupActivities {
  /** Sends one Account Balance or Transaction Status request. Read-only at Daraja. */
  startLookup(input: StartLookupInput): Promise<StartLookupResult>;
}
