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
