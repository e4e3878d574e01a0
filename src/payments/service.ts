/**
 * The STK payment use cases behind the HTTP routes: create (idempotent, Update-with-Start so the
 * answer carries Daraja's CheckoutRequestID), read, refresh, and hand a Daraja callback to its workflow.
 */
import {
  type Client,
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowUpdateFailedError,
  type WorkflowUpdateHandle,
} from '@temporalio/client';
import type { StkCallback } from '../daraja/callbacks';
import type { Db } from '../db';
import { notFound } from '../domain/errors';
import { newId } from '../domain/ids';
import type { Msisdn } from '../domain/phone';
import {
  MalipoAmount,
  MalipoChannelId,
  MalipoMerchantId,
  MalipoReference,
  MalipoStatus,
} from '../domain/search-attributes';
import type { StkCallbackSignal, StkPaymentState, StkPushConfig } from '../domain/stk';
import type { Logger } from '../logger';
import type { SecretBox } from '../platform/secret-box';
import type { AuthContext } from '../platform/scopes';
import { resolveChannel } from '../platform/channels';
import {
  awaitInitiationUpdate,
  refreshUpdate,
  resolveUpdate,
  stkCallbackSignal,
  stkPush,
} from '../../workflows/stk-push';
import type { ManualResolution } from '../domain/reconciliation';
import { resolveReview } from './resolve';
import { createOnce } from './create-once';
import { IdempotencyStore } from './idempotency';
import { PaymentRepository, type PaymentView } from './repository';

export interface PaymentServiceDeps {
  db: Db;
  box: SecretBox;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
  /** How long POST waits for Daraja's acceptance before answering `pending` without it. */
  initiationWaitMs: number;
  stkConfig?: Partial<StkPushConfig> | undefined;
}

export interface CreateStkPaymentInput {
  phone: Msisdn;
  amount: number;
  reference: string;
  description: string;
  channelId?: string | undefined;
  callbackUrl?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
  linkId?: string | undefined;
}

export interface CreateResult {
  status: number;
  body: PaymentView;
  replayed: boolean;
}

const IDEMPOTENCY_SCOPE = 'payments.stk';

/** The state a workflow reported, laid over the stored row (the row may lag by one activity). */
function overlay(view: PaymentView, state: StkPaymentState | undefined): PaymentView {
  // a state older than the row (a completed run's first answer, replayed by Temporal) changes nothing
  if (!state || state.version < 1 || (state.status === 'pending' && view.status !== 'pending')) return view;
  return {
    ...view,
    status: state.status,
    checkoutRequestId: state.checkoutRequestId ?? view.checkoutRequestId,
    merchantRequestId: state.merchantRequestId ?? view.merchantRequestId,
    mpesaReceipt: state.mpesaReceipt ?? view.mpesaReceipt,
    transactionDate: state.transactionDate ?? view.transactionDate,
    resultCode: state.resultCode ?? view.resultCode,
    resultDesc: state.resultDesc ?? view.resultDesc,
    failureReason: state.status === 'failed' ? (state.failureReason ?? null) : null,
    reviewReason: state.status === 'needs_review' ? (state.reviewReason ?? null) : null,
  };
}

export class PaymentService {
  readonly repo: PaymentRepository;
  readonly idempotency: IdempotencyStore;

  constructor(private readonly deps: PaymentServiceDeps) {
    this.repo = new PaymentRepository(deps.db);
    this.idempotency = new IdempotencyStore(deps.db);
  }

  async createStk(
    auth: AuthContext,
    input: CreateStkPaymentInput,
    idempotencyKey: string | undefined,
    rawBody: unknown,
  ): Promise<CreateResult> {
    const { channel } = await resolveChannel(this.deps.db, this.deps.box, auth, input.channelId);
    const scope = idempotencyKey
      ? {
          merchantId: auth.merchantId,
          environment: auth.environment,
          scope: IDEMPOTENCY_SCOPE,
          key: idempotencyKey,
        }
      : undefined;

    return createOnce({
      db: this.deps.db,
      temporal: this.deps.temporal,
      idempotency: this.idempotency,
      table: 'payments',
      scope,
      rawBody,
      proposedId: newId('payment'),
      run: async (paymentId) => {
        const created = await this.repo.createPending({
          id: paymentId,
          merchantId: auth.merchantId,
          environment: auth.environment,
          channelId: channel.id,
          amount: input.amount,
          phone: input.phone,
          reference: input.reference,
          description: input.description,
          callbackUrl: input.callbackUrl ?? null,
          metadata: input.metadata ?? null,
          apiKeyId: auth.keyId,
          linkId: input.linkId ?? null,
        });
        return overlay(created, await this.startWorkflow(auth, created, input));
      },
    });
  }

  /** Starts (or joins) the workflow and waits a bounded time for Daraja's acceptance. */
  private async startWorkflow(
    auth: AuthContext,
    p: PaymentView,
    input: CreateStkPaymentInput,
  ): Promise<StkPaymentState | undefined> {
    const op = new WithStartWorkflowOperation(stkPush, {
      workflowId: p.id,
      taskQueue: this.deps.taskQueue,
      // a retried request (same idempotency key, same payment id) joins the running workflow
      workflowIdConflictPolicy: 'USE_EXISTING',
      // ...and never starts a second run (a second push) once the first has closed
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      args: [
        {
          paymentId: p.id,
          merchantId: auth.merchantId,
          channelId: p.channelId,
          environment: auth.environment,
          amount: p.amount,
          phone: p.phone,
          reference: p.reference,
          description: p.description,
          callbackUrl: input.callbackUrl,
          config: this.deps.stkConfig,
        },
      ],
      typedSearchAttributes: [
        { key: MalipoMerchantId, value: auth.merchantId },
        { key: MalipoStatus, value: 'pending' },
        { key: MalipoReference, value: p.reference },
        { key: MalipoChannelId, value: p.channelId },
        { key: MalipoAmount, value: p.amount },
      ],
    });
    let update: WorkflowUpdateHandle<StkPaymentState>;
    try {
      update = await this.deps.temporal.workflow.startUpdateWithStart(awaitInitiationUpdate, {
        startWorkflowOperation: op,
        waitForStage: 'ACCEPTED',
        updateId: `initiation:${p.id}`,
      });
    } catch (err) {
      // The payment's workflow already ran to completion: the stored row is the answer.
      if (err instanceof WorkflowExecutionAlreadyStartedError) return undefined;
      throw err;
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        update.result(),
        new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), this.deps.initiationWaitMs);
        }),
      ]);
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) return undefined;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async get(auth: AuthContext, id: string): Promise<PaymentView> {
    const view = await this.repo.get(auth.merchantId, id);
    if (!view || view.environment !== auth.environment) throw notFound('Payment');
    return view;
  }

  /** Runs a live STK query through the workflow's `refresh` update, then answers the merged state. */
  async refresh(auth: AuthContext, id: string): Promise<PaymentView> {
    const view = await this.get(auth, id);
    if (view.status !== 'pending') return view;
    try {
      const state = await this.deps.temporal.workflow.getHandle(id).executeUpdate(refreshUpdate);
      return overlay(view, state);
    } catch (err) {
      this.deps.logger.warn({ err, paymentId: id }, 'refresh failed; answering the stored state');
      return view;
    }
  }

  /**
   * Resolves a `needs_review` payment by hand (see src/payments/resolve.ts). `eventId` is the event a
   * direct write appended, whose webhooks the caller starts.
   */
  async resolve(
    auth: AuthContext,
    id: string,
    r: ManualResolution,
  ): Promise<{ view: PaymentView; eventId: string | null }> {
    return resolveReview(
      {
        what: 'Payment',
        read: () => this.get(auth, id),
        update: (res) =>
          this.deps.temporal.workflow.getHandle(id).executeUpdate(resolveUpdate, { args: [res] }),
        direct: (res) => this.repo.resolveDirectly(id, res),
      },
      r,
    );
  }

  /**
   * Hands a parsed Daraja callback to the payment's workflow. When no running workflow takes it,
   * it goes to the inbox for reconciliation: a callback is never dropped.
   */
  async deliverCallback(paymentId: string, cb: StkCallback, raw: unknown): Promise<'signalled' | 'inbox'> {
    const signal: StkCallbackSignal = {
      checkoutRequestId: cb.checkoutRequestId,
      merchantRequestId: cb.merchantRequestId,
      resultCode: cb.resultCode,
      resultDesc: cb.resultDesc,
      amount: cb.amount,
      receipt: cb.receipt,
      transactionDate: cb.transactionDate,
      phone: cb.phone,
    };
    try {
      await this.deps.temporal.workflow.getHandle(paymentId).signal(stkCallbackSignal, signal);
      return 'signalled';
    } catch (err) {
      await this.repo.toInbox('stk', paymentId, raw, err instanceof Error ? err.message : String(err));
      return 'inbox';
    }
  }
}
