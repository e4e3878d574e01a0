/** Fetches workflow histories and reduces their events to {@link BenchEvent}s. */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { BenchEvent } from './stats';

type ProtoEvent = temporal.api.history.v1.IHistoryEvent;

export function toBenchEvent(e: ProtoEvent): BenchEvent {
  const name = temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType);
  const type = name.replace(/^EVENT_TYPE_/, '');
  const out: BenchEvent = { type };
  if (e.activityTaskStartedEventAttributes) out.attempt = e.activityTaskStartedEventAttributes.attempt ?? 1;
  if (e.markerRecordedEventAttributes) {
    out.markerName = e.markerRecordedEventAttributes.markerName ?? undefined;
    const id = e.markerRecordedEventAttributes.workflowTaskCompletedEventId;
    if (id !== undefined && id !== null) out.workflowTaskCompletedEventId = String(id);
  }
  return out;
}

export async function historyOf(client: Client, workflowId: string): Promise<BenchEvent[]> {
  const h = await client.workflow.getHandle(workflowId).fetchHistory();
  return (h.events ?? []).map(toBenchEvent);
}

/** The history of `workflowId`, or no events when there is no such workflow. */
export async function historyOrNone(client: Client, workflowId: string): Promise<BenchEvent[]> {
  try {
    return await historyOf(client, workflowId);
  } catch (err) {
    if (err instanceof Error && err.name === 'WorkflowNotFoundError') return [];
    if ((err as { code?: unknown }).code === 5) return []; // gRPC NOT_FOUND
    throw err;
  }
}
