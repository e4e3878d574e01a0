/**
 * Manual resolution of a `needs_review` payment or payout, shared by both: hand it to the running
 * workflow (its `resolve` update records the change, the event and the audit row), or, once the workflow
 * has ended, write it directly in one transaction. The same resolution again answers the resolved
 * record; any other answer on a record that is not in review is a 409.
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MalipoError } from '../domain/errors';
import {
  type ManualResolution,
  RESOLVE_ERRORS,
  type ResolvedBy,
  sameResolution,
} from '../domain/reconciliation';

interface Resolvable {
  status: string;
  mpesaReceipt: string | null;
  resolvedBy: ResolvedBy | null;
}

export interface ResolveSteps<V extends Resolvable> {
  what: 'Payment' | 'Payout';
  /** The stored record (404 for another merchant's). */
  read: () => Promise<V>;
  /** Sends the workflow's `resolve` update and waits for its answer. */
  update: (r: ManualResolution) => Promise<unknown>;
  /** Writes the resolution when no workflow runs. */
  direct: (r: ManualResolution) => Promise<{ applied: boolean; eventId: string | null }>;
}

/** Resolves; `eventId` is set when the direct write appended an event (its webhooks are the caller's to start). */
export async function resolveReview<V extends Resolvable>(
  steps: ResolveSteps<V>,
  r: ManualResolution,
): Promise<{ view: V; eventId: string | null }> {
  const view = await steps.read();
  if (view.status !== 'needs_review') return { view: settledAnswer(steps.what, view, r), eventId: null };
  try {
    await steps.update(r);
    // the workflow recorded the change (row, event, audit) before the update answered
    return { view: await steps.read(), eventId: null };
  } catch (err) {
    const type =
      err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure
        ? err.cause.type
        : undefined;
    if (type === RESOLVE_ERRORS.notInReview || type === RESOLVE_ERRORS.conflict) {
      return { view: settledAnswer(steps.what, await steps.read(), r), eventId: null };
    }
    // ended (or ending: it writes nothing more) → the database directly
    if (!(err instanceof WorkflowNotFoundError) && type !== RESOLVE_ERRORS.closing) throw err;
  }
  const written = await steps.direct(r);
  const after = await steps.read();
  if (!written.applied) return { view: settledAnswer(steps.what, after, r), eventId: null };
  return { view: after, eventId: written.eventId };
}

/** The answer for a record no longer in review: the record, for the same manual resolution; else 409. */
function settledAnswer<V extends Resolvable>(what: string, view: V, r: ManualResolution): V {
  if (view.resolvedBy === 'manual' && sameResolution(r, view)) return view;
  if (view.resolvedBy === 'manual') {
    throw new MalipoError(
      'RESOLUTION_CONFLICT',
      `${what} was already resolved as ${view.status}${view.mpesaReceipt ? ` with receipt ${view.mpesaReceipt}` : ''}`,
      {
        details: [
          { path: 'status', message: `already resolved as ${view.status}`, code: 'resolution_conflict' },
        ],
      },
    );
  }
  throw new MalipoError(
    'NOT_IN_REVIEW',
    `${what} is ${view.status}; only a needs_review ${what.toLowerCase()} can be resolved`,
    {
      details: [{ path: 'status', message: `is ${view.status}`, code: 'not_in_review' }],
    },
  );
}
