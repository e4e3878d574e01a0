/**
 * POST /v1/payments/:id/resolve and POST /v1/payouts/:id/resolve: a person settles a `needs_review`
 * payment or payout (scopes `payments:resolve` / `payouts:resolve`). Recorded with who and why in the
 * audit log; the ordinary `payment.*` / `payout.*` event carries `resolvedBy: "manual"`.
 */
import { z } from 'zod';
import { MPESA_RECEIPT, type ManualResolution, RESOLUTION_NOTE_MAX } from '../../domain/reconciliation';
import { dispatchEvent } from '../../webhooks/dispatch';
import type { AppDeps } from '../deps';
import { defineRoute } from '../route';
import { idParams } from '../schemas';
import { PaymentSchema } from './payments';
import { PayoutSchema } from './payouts';

export const ResolveSchema = z
  .strictObject({
    status: z
      .enum(['success', 'failed'])
      .meta({ description: '`success`: the money moved; `failed`: it did not' }),
    mpesaReceipt: z
      .string()
      .regex(MPESA_RECEIPT, 'must be an M-Pesa receipt: 10 uppercase letters and digits')
      .optional()
      .meta({ description: 'Required with `success`; not allowed with `failed`', example: 'UKM8EOG5BS' }),
    note: z
      .string()
      .transform((s) => s.trim())
      .pipe(
        z
          .string()
          .min(1, 'note must not be empty')
          .max(RESOLUTION_NOTE_MAX, `note must be at most ${RESOLUTION_NOTE_MAX} characters`)
          .regex(/^[^\p{Cc}]+$/u, 'note must not contain control characters'),
      )
      .meta({ description: 'Why: kept in the audit log with the key that resolved it' }),
  })
  .superRefine((b, ctx) => {
    if (b.status === 'success' && b.mpesaReceipt === undefined) {
      ctx.addIssue({ code: 'custom', path: ['mpesaReceipt'], message: 'a success needs the M-Pesa receipt' });
    }
    if (b.status === 'failed' && b.mpesaReceipt !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['mpesaReceipt'], message: 'a failed resolution has no receipt' });
    }
  })
  .meta({ id: 'Resolve' });

type ResolveBody = z.output<typeof ResolveSchema>;

const resolutionOf = (
  body: ResolveBody,
  actor: { actor: string; requestId?: string | undefined },
): ManualResolution => ({
  status: body.status,
  ...(body.mpesaReceipt !== undefined ? { mpesaReceipt: body.mpesaReceipt } : {}),
  note: body.note,
  actor: actor.actor,
  ...(actor.requestId ? { requestId: actor.requestId } : {}),
});

/** A direct write appended an event: start its webhooks (a workflow-written one started them already). */
async function deliver(deps: AppDeps, eventId: string | null): Promise<void> {
  if (eventId) await dispatchEvent(deps.webhooks, deps.deliveryStarter, eventId);
}

const DESCRIPTION =
  'Only from `needs_review` (else 409 `NOT_IN_REVIEW`). The same resolution again answers 200 with the resolved record; another one is 409 `RESOLUTION_CONFLICT`. The running workflow records it (or, once it has ended, Malipo writes it directly), and the ordinary event is sent with `resolvedBy: "manual"`.';

export const resolvePaymentRoute = defineRoute({
  method: 'post',
  path: '/v1/payments/:id/resolve',
  scope: 'payments:resolve',
  summary: 'Resolve a payment that needs review',
  description: DESCRIPTION,
  tags: ['payments'],
  request: { params: idParams('pay', 'pay_3xK9mQ2vL8nR4tY7wZ1aB5'), body: ResolveSchema },
  responses: { 200: { description: 'The resolved payment', schema: PaymentSchema } },
  errors: ['RESOURCE_NOT_FOUND', 'NOT_IN_REVIEW', 'RESOLUTION_CONFLICT'],
  handler: async ({ deps, auth, params, body, actor, reply }) => {
    const { view, eventId } = await deps.payments.resolve(auth, params.id, resolutionOf(body, actor));
    await deliver(deps, eventId);
    return reply(200, view);
  },
});

export const resolvePayoutRoute = defineRoute({
  method: 'post',
  path: '/v1/payouts/:id/resolve',
  scope: 'payouts:resolve',
  summary: 'Resolve a payout that needs review',
  description: DESCRIPTION,
  tags: ['payouts'],
  request: { params: idParams('po', 'po_3xK9mQ2vL8nR4tY7wZ1aB5'), body: ResolveSchema },
  responses: { 200: { description: 'The resolved payout', schema: PayoutSchema } },
  errors: ['RESOURCE_NOT_FOUND', 'NOT_IN_REVIEW', 'RESOLUTION_CONFLICT'],
  handler: async ({ deps, auth, params, body, actor, reply }) => {
    const { view, eventId } = await deps.payouts.resolve(auth, params.id, resolutionOf(body, actor));
    await deliver(deps, eventId);
    return reply(200, view);
  },
});

export const resolutionRoutes = [resolvePaymentRoute, resolvePayoutRoute];
