/**
 * The pure parts of `malipo bench`: percentiles, latency summaries, and the billable-action count of
 * a workflow history. No I/O, so test/unit/bench-*.test.ts can check them directly.
 */

/** Nearest-rank percentile (p in 0..100) of `values`; NaN when empty. Does not mutate `values`. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return percentileOfSorted(sorted, p);
}

function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const clamped = Math.min(100, Math.max(0, p));
  const rank = Math.max(1, Math.ceil((clamped / 100) * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(values: readonly number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    p50: percentileOfSorted(sorted, 50),
    p90: percentileOfSorted(sorted, 90),
    p99: percentileOfSorted(sorted, 99),
    max: sorted.length ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
  };
}

/** One history event, reduced to what the action count needs (see {@link toBenchEvent} in history.ts). */
export interface BenchEvent {
  /** The event type without the `EVENT_TYPE_` prefix, e.g. `ACTIVITY_TASK_SCHEDULED`. */
  type: string;
  /** ACTIVITY_TASK_STARTED: the attempt number that closed the activity. */
  attempt?: number | undefined;
  /** MARKER_RECORDED: the marker name (`core_local_activity`, `core_patch`, …). */
  markerName?: string | undefined;
  /** MARKER_RECORDED: the workflow task whose completion recorded it. */
  workflowTaskCompletedEventId?: string | undefined;
}

export interface ActionCount {
  total: number;
  /** Actions by rule name, for the report. */
  byKind: Record<string, number>;
}

/**
 * Billable Temporal (Cloud) actions of one workflow execution, from its history, per
 * reference/temporal.md §5 (docs.temporal.io/cloud/actions):
 *
 * - WORKFLOW_EXECUTION_STARTED: 1 (the start; Update-with-Start counts the update separately, so 2 in all)
 * - WORKFLOW_EXECUTION_UPDATE_ACCEPTED: 1 (an update received; rejected updates leave no event and are not seen)
 * - ACTIVITY_TASK_SCHEDULED: 1, plus (attempt - 1) from its ACTIVITY_TASK_STARTED (each retry is an action;
 *   ActivityTaskStarted is written once, when the last attempt closes, carrying the attempt number)
 * - TIMER_STARTED: 1 (including `condition` timeouts)
 * - WORKFLOW_EXECUTION_SIGNALED: 1
 * - UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: 1 (search attributes given at start are free and leave no such event)
 * - MARKER_RECORDED `core_local_activity`: 1 per workflow task that recorded any (patch markers are free)
 * - START_CHILD_WORKFLOW_EXECUTION_INITIATED: 2; SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: 1;
 *   WORKFLOW_EXECUTION_CONTINUED_AS_NEW: 1 (the new run's start)
 *
 * Not visible in a history, so not counted: queries, heartbeats, rejected updates, de-duplicated starts.
 */
export function countActions(events: readonly BenchEvent[]): ActionCount {
  const byKind: Record<string, number> = {};
  const add = (kind: string, n: number) => {
    if (n > 0) byKind[kind] = (byKind[kind] ?? 0) + n;
  };
  const laTasks = new Set<string>();
  for (const e of events) {
    switch (e.type) {
      case 'WORKFLOW_EXECUTION_STARTED':
        add('workflowStarted', 1);
        break;
      case 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED':
        add('update', 1);
        break;
      case 'ACTIVITY_TASK_SCHEDULED':
        add('activity', 1);
        break;
      case 'ACTIVITY_TASK_STARTED':
        add('activityRetry', Math.max(0, (e.attempt ?? 1) - 1));
        break;
      case 'TIMER_STARTED':
        add('timer', 1);
        break;
      case 'WORKFLOW_EXECUTION_SIGNALED':
        add('signal', 1);
        break;
      case 'UPSERT_WORKFLOW_SEARCH_ATTRIBUTES':
        add('searchAttributeUpsert', 1);
        break;
      case 'MARKER_RECORDED':
        if (e.markerName === 'core_local_activity') {
          // one action per workflow task that ran any local activity
          const key = e.workflowTaskCompletedEventId ?? `marker-${laTasks.size}`;
          if (!laTasks.has(key)) {
            laTasks.add(key);
            add('localActivityTask', 1);
          }
        }
        break;
      case 'START_CHILD_WORKFLOW_EXECUTION_INITIATED':
        add('childWorkflow', 2);
        break;
      case 'SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED':
        add('signalExternal', 1);
        break;
      case 'WORKFLOW_EXECUTION_CONTINUED_AS_NEW':
        add('continueAsNew', 1);
        break;
    }
  }
  const total = Object.values(byKind).reduce((a, b) => a + b, 0);
  return { total, byKind };
}

/** Counts of each event type, for the report. */
export function eventTypeCounts(events: readonly BenchEvent[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events) out[e.type] = (out[e.type] ?? 0) + 1;
  return out;
}

/** Mean of numbers (NaN when empty). */
export function mean(values: readonly number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;
}

/** `a / b`, or null when either is not a finite positive number. */
export function ratio(a: number, b: number): number | null {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : null;
}
