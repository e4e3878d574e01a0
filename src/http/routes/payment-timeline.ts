/**
 * GET /v1/payments/:id/timeline: everything that happened to one payment, oldest first, from what is
 * already stored: the row, the push marks (`stk_pushes`), the status events, callbacks kept in the inbox,
 * webhook deliveries and their attempts; and from the payment's Temporal workflow history (workflow id =
 * payment id) the Daraja answers to the push, every STK query and every callback signal. Nothing is
 * written on the payment's hot path for this. Without a reachable history the stored part still answers.
 */
import { temporal } from '@temporalio/proto';
import { z } from 'zod';
import type { AppDeps } from '../deps';
import { defineRoute } from '../route';
import { idParams, Timestamp } from '../schemas';

const HISTORY_TIMEOUT_MS = 3000;

export const TIMELINE_TYPES = [
  'created',
  'stk_push',
  'initiation',
  'callback',
  'callback_kept',
  'stk_query',
  'status',
  'webhook_delivery',
  'webhook_attempt',
] as const;
export type TimelineType = (typeof TIMELINE_TYPES)[number];

const Detail = z.union([z.string(), z.number(), z.boolean(), z.null()]);

const TimelineEntrySchema = z.object({
  at: Timestamp,
  type: z.enum(TIMELINE_TYPES),
  summary: z.string(),
  details: z.record(z.string(), Detail),
});
export type TimelineEntry = z.infer<typeof TimelineEntrySchema>;

export const TimelineSchema = z
  .object({
    object: z.literal('payment_timeline'),
    paymentId: z.string(),
    status: z.string(),
    merchantRequestId: z.string().nullable(),
    checkoutRequestId: z.string().nullable(),
    workflow: z.object({
      workflowId: z.string(),
      namespace: z.string(),
      history: z.enum(['included', 'unavailable', 'none']).meta({
        description:
          '`none` for payments without a workflow (C2B); `unavailable` when Temporal did not answer in time',
      }),
    }),
    entries: z.array(TimelineEntrySchema),
  })
  .meta({ id: 'PaymentTimeline' });
export type Timeline = z.infer<typeof TimelineSchema>;

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type Payload = temporal.api.common.v1.IPayload;
const EventType = temporal.api.enums.v1.EventType;

const iso = (d: Date | string) => new Date(d).toISOString();

function eventTime(e: HistoryEvent): string {
  const t = e.eventTime;
  const ms = t ? Number(String(t.seconds ?? 0)) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : 0;
  return new Date(ms).toISOString();
}

/** A JSON payload's value (the default data converter's `json/plain`), or undefined. */
function decode(p: Payload | null | undefined): unknown {
  if (!p?.data) return undefined;
  const enc = p.metadata?.encoding ? Buffer.from(p.metadata.encoding).toString() : '';
  if (enc !== 'json/plain') return undefined;
  try {
    return JSON.parse(Buffer.from(p.data).toString('utf8'));
  } catch {
    return undefined;
  }
}

type Obj = Record<string, unknown>;
const str = (v: unknown): string | null =>
  typeof v === 'string' ? v : typeof v === 'number' ? String(v) : null;

function activityEntry(type: string, result: unknown, at: string): TimelineEntry | undefined {
  const r = (result ?? {}) as Obj;
  if (type === 'initiateStkPush') {
    switch (r.kind) {
      case 'accepted':
        return {
          at,
          type: 'initiation',
          summary: 'Daraja accepted the STK push',
          details: {
            merchantRequestId: str(r.merchantRequestId),
            checkoutRequestId: str(r.checkoutRequestId),
          },
        };
      case 'rejected':
        return {
          at,
          type: 'initiation',
          summary: 'Daraja rejected the STK push',
          details: { code: str(r.code), message: str(r.message) },
        };
      default:
        return {
          at,
          type: 'initiation',
          summary: 'The STK push got no clear answer (the payment waits for the callback or a query)',
          details: { kind: str(r.kind), reason: str(r.reason) },
        };
    }
  }
  if (type === 'queryStkStatus') {
    const summary =
      r.kind === 'final'
        ? `STK query: result ${str(r.resultCode)} (${str(r.resultDesc) ?? ''})`
        : r.kind === 'pending'
          ? 'STK query: still being processed'
          : 'STK query: Daraja unavailable, asking again later';
    return {
      at,
      type: 'stk_query',
      summary,
      details: { outcome: str(r.kind), resultCode: str(r.resultCode), resultDesc: str(r.resultDesc) },
    };
  }
  return undefined;
}

/** The Daraja-facing steps of a workflow history: push answers, STK queries (local or not), callback signals. */
export function historyEntries(events: HistoryEvent[]): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  const scheduled = new Map<string, string>();
  for (const e of events) {
    const at = eventTime(e);
    if (e.eventType === EventType.EVENT_TYPE_MARKER_RECORDED) {
      const m = e.markerRecordedEventAttributes;
      if (m?.markerName !== 'core_local_activity') continue;
      const data = decode(m.details?.data?.payloads?.[0]) as Obj | undefined;
      const result = decode(m.details?.result?.payloads?.[0]);
      // the marker is written when the workflow task completes; the activity's own completion is earlier
      const done = data?.complete_time as { seconds?: number | string; nanos?: number } | undefined;
      const completed =
        done?.seconds !== undefined
          ? new Date(Number(done.seconds) * 1000 + Math.floor((done.nanos ?? 0) / 1e6)).toISOString()
          : at;
      const entry = activityEntry(String(data?.activity_type ?? ''), result, completed);
      if (entry) out.push(entry);
    } else if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) {
      const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
      if (name) scheduled.set(String(e.eventId), name);
    } else if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) {
      const a = e.activityTaskCompletedEventAttributes;
      const name = scheduled.get(String(a?.scheduledEventId));
      const entry = name ? activityEntry(name, decode(a?.result?.payloads?.[0]), at) : undefined;
      if (entry) out.push(entry);
    } else if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) {
      const s = e.workflowExecutionSignaledEventAttributes;
      if (s?.signalName !== 'stkCallback') continue;
      const cb = (decode(s.input?.payloads?.[0]) ?? {}) as Obj;
      out.push({
        at,
        type: 'callback',
        summary: `Callback received: result ${str(cb.resultCode) ?? '?'} (${str(cb.resultDesc) ?? ''})`,
        details: {
          resultCode: str(cb.resultCode),
          resultDesc: str(cb.resultDesc),
          checkoutRequestId: str(cb.checkoutRequestId),
          mpesaReceipt: str(cb.receipt),
          amount: typeof cb.amount === 'number' ? cb.amount : null,
        },
      });
    }
  }
  return out;
}

async function fetchHistory(deps: AppDeps, workflowId: string): Promise<HistoryEvent[] | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const fetching = deps.temporal.workflow.getHandle(workflowId).fetchHistory();
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), HISTORY_TIMEOUT_MS);
    });
    const h = await Promise.race([fetching, timeout]);
    fetching.catch(() => undefined);
    return h ? (h.events ?? []) : undefined;
  } catch {
    return undefined;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

export const paymentTimelineRoute = defineRoute({
  method: 'get',
  path: '/v1/payments/:id/timeline',
  scope: 'payments:read',
  summary: "A payment's timeline",
  description:
    'Oldest first: creation, STK push marks, Daraja answers and request ids, STK queries and callbacks (from the workflow history), status changes, webhook deliveries and each attempt.',
  tags: ['payments'],
  request: { params: idParams('pay', 'pay_3xK9mQ2vL8nR4tY7wZ1aB5') },
  responses: { 200: { description: 'The timeline', schema: TimelineSchema } },
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, auth, params, reply }) => {
    const p = await deps.payments.get(auth, params.id);
    const db = deps.db;
    const entries: TimelineEntry[] = [
      {
        at: p.createdAt,
        type: 'created',
        summary: `Payment created: KES ${p.amount.toLocaleString('en-KE')}, reference ${p.reference}`,
        details: {
          amount: p.amount,
          phone: p.phone,
          reference: p.reference,
          channelId: p.channelId,
          kind: p.kind,
        },
      },
    ];
    const [pushes, events, kept] = await Promise.all([
      db.selectFrom('stk_pushes').selectAll().where('payment_id', '=', p.id).orderBy('push_number').execute(),
      db
        .selectFrom('events')
        .select(['id', 'type', 'payment_version', 'created_at'])
        .where('payment_id', '=', p.id)
        .where('merchant_id', '=', auth.merchantId)
        .orderBy('payment_version')
        .execute(),
      db
        .selectFrom('callback_inbox')
        .select(['kind', 'error', 'received_at', 'resolved_at'])
        .where('payment_id', '=', p.id)
        .orderBy('id')
        .execute(),
    ]);
    for (const s of pushes) {
      entries.push({
        at: iso(s.marked_at),
        type: 'stk_push',
        summary: `STK push ${s.push_number} sent to Daraja`,
        details: { pushNumber: s.push_number, outcome: s.outcome },
      });
    }
    for (const e of events) {
      entries.push({
        at: iso(e.created_at),
        type: 'status',
        summary: `Status changed: ${e.type}`,
        details: { eventId: e.id, eventType: e.type, version: e.payment_version },
      });
    }
    for (const k of kept) {
      entries.push({
        at: iso(k.received_at),
        type: 'callback_kept',
        summary: 'A callback was kept for reconciliation (it could not reach the workflow)',
        details: { kind: k.kind, error: k.error, resolvedAt: k.resolved_at ? iso(k.resolved_at) : null },
      });
    }
    if (events.length > 0) {
      const deliveries = await db
        .selectFrom('webhook_deliveries')
        .select([
          'id',
          'event_id',
          'target_kind',
          'target_url',
          'sequence',
          'status',
          'attempts',
          'last_status_code',
          'created_at',
        ])
        .where('merchant_id', '=', auth.merchantId)
        .where(
          'event_id',
          'in',
          events.map((e) => e.id),
        )
        .orderBy('created_at')
        .execute();
      const attempts = deliveries.length
        ? await db
            .selectFrom('webhook_attempts')
            .selectAll()
            .where(
              'delivery_id',
              'in',
              deliveries.map((d) => d.id),
            )
            .orderBy('attempted_at')
            .execute()
        : [];
      for (const d of deliveries) {
        entries.push({
          at: iso(d.created_at),
          type: 'webhook_delivery',
          summary: `Webhook delivery ${d.status} to ${d.target_url} (${d.attempts} attempt${d.attempts === 1 ? '' : 's'})`,
          details: {
            deliveryId: d.id,
            eventId: d.event_id,
            target: d.target_kind,
            url: d.target_url,
            redelivery: d.sequence,
            status: d.status,
            attempts: d.attempts,
            lastStatusCode: d.last_status_code,
          },
        });
      }
      for (const a of attempts) {
        entries.push({
          at: iso(a.attempted_at),
          type: 'webhook_attempt',
          summary: `Webhook attempt ${a.attempt}: ${a.status_code ?? a.error ?? 'no answer'} in ${a.latency_ms} ms`,
          details: {
            deliveryId: a.delivery_id,
            attempt: a.attempt,
            url: a.target_url,
            statusCode: a.status_code,
            latencyMs: a.latency_ms,
            error: a.error,
          },
        });
      }
    }
    let history: Timeline['workflow']['history'] = 'none';
    if (p.kind === 'stk') {
      const h = await fetchHistory(deps, p.id);
      history = h ? 'included' : 'unavailable';
      if (h) entries.push(...historyEntries(h));
    }
    // stable: entries of the same instant keep the order above (stored facts before history)
    entries.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    return reply(200, {
      object: 'payment_timeline' as const,
      paymentId: p.id,
      status: p.status,
      merchantRequestId: p.merchantRequestId,
      checkoutRequestId: p.checkoutRequestId,
      workflow: { workflowId: p.id, namespace: deps.config.TEMPORAL_NAMESPACE, history },
      entries,
    });
  },
});

export const paymentTimelineRoutes = [paymentTimelineRoute];
