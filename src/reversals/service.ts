/**
 * The reversal use cases behind the HTTP routes: create (idempotent; one `reversal` workflow per
 * reversal, never a second run), read, list, and hand Daraja's Results to the workflow.
 */
import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { reversalResultSignal, reversalStatusSignal } from '../../workflows/reversal';
import type { Db } from '../db';
import type { Cursor } from '../db/paging';
import { notFound } from '../domain/errors';
import { newId } from '../domain/ids';
import type { ReversalConfig, ReversalResultSignal, ReversalStatusSignal } from '../domain/reversal';
import {
  MalipoAmount,
  MalipoChannelId,
  MalipoMerchantId,
  MalipoReference,
  MalipoStatus,
} from '../domain/search-attributes';
import { createOnce } from '../payments/create-once';
import { IdempotencyStore } from '../payments/idempotency';
import { PaymentRepository } from '../payments/repository';
import type { AuthContext } from '../platform/scopes';
import { ReversalRepository, type ReversalView } from './repository';

export interface ReversalServiceDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  reversalConfig?: Partial<ReversalConfig> | undefined;
}

export interface CreateReversalInput {
  /** Undefined: everything not yet reversed. */
  amount?: number | undefined;
  reason: string;
}

/** The workflow type name, as exported from workflows/index.ts. */
export const REVERSAL_WORKFLOW = 'reversal';
const IDEMPOTENCY_SCOPE = 'reversals.create';

export class ReversalService {
  readonly repo: ReversalRepository;
  readonly idempotency: IdempotencyStore;
  readonly #payments: PaymentRepository;

  constructor(private readonly deps: ReversalServiceDeps) {
    this.repo = new ReversalRepository(deps.db);
    this.idempotency = new IdempotencyStore(deps.db);
    this.#payments = new PaymentRepository(deps.db);
  }

  /** The caller's payment, or 404 (another merchant's or environment's payment is not found either). */
  async #payment(auth: AuthContext, paymentId: string) {
    const p = await this.#payments.get(auth.merchantId, paymentId);
    if (!p || p.environment !== auth.environment) throw notFound('Payment');
    return p;
  }

  async create(
    auth: AuthContext,
    paymentId: string,
    input: CreateReversalInput,
    idempotencyKey: string | undefined,
    rawBody: unknown,
  ): Promise<{ status: number; body: ReversalView; replayed: boolean }> {
    await this.#payment(auth, paymentId);
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
      table: 'reversals',
      scope,
      // the same key on another payment is another request
      rawBody: { paymentId, body: rawBody },
      proposedId: newId('reversal'),
      run: async (reversalId) => {
        const created = await this.repo.createPending({
          id: reversalId,
          merchantId: auth.merchantId,
          environment: auth.environment,
          paymentId,
          amount: input.amount,
          reason: input.reason,
          apiKeyId: auth.keyId,
        });
        await this.#start(auth, created.view, created.receipt);
        return (await this.repo.getById(reversalId)) ?? created.view;
      },
    });
  }

  async #start(auth: AuthContext, r: ReversalView, receipt: string): Promise<void> {
    try {
      await this.deps.temporal.workflow.start(REVERSAL_WORKFLOW, {
        workflowId: r.id,
        taskQueue: this.deps.taskQueue,
        // a retried request joins the running workflow and never starts a second run (a second refund)
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        args: [
          {
            reversalId: r.id,
            paymentId: r.paymentId,
            merchantId: auth.merchantId,
            channelId: r.channelId,
            environment: auth.environment,
            amount: r.amount,
            receipt,
            remarks: r.reason,
            ...(this.deps.reversalConfig ? { config: this.deps.reversalConfig } : {}),
          },
        ],
        typedSearchAttributes: [
          { key: MalipoMerchantId, value: auth.merchantId },
          { key: MalipoStatus, value: 'pending' },
          { key: MalipoReference, value: r.paymentId },
          { key: MalipoChannelId, value: r.channelId },
          { key: MalipoAmount, value: r.amount },
        ],
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      throw err;
    }
  }

  async get(auth: AuthContext, id: string): Promise<ReversalView> {
    const view = await this.repo.get(auth.merchantId, id);
    if (!view || view.environment !== auth.environment) throw notFound('Reversal');
    return view;
  }

  async listForPayment(
    auth: AuthContext,
    paymentId: string,
    page: { cursor?: Cursor | undefined; limit: number },
  ): Promise<{ data: ReversalView[]; nextCursor: string | null }> {
    await this.#payment(auth, paymentId);
    return this.repo.listForPayment(paymentId, page);
  }

  /** Hands a parsed Result or Transaction Status answer to the workflow; else it goes to the inbox. */
  async deliver(
    reversalId: string,
    signal: { kind: 'result'; value: ReversalResultSignal } | { kind: 'status'; value: ReversalStatusSignal },
    raw: unknown,
  ): Promise<'signalled' | 'inbox'> {
    const handle = this.deps.temporal.workflow.getHandle(reversalId);
    try {
      if (signal.kind === 'result') await handle.signal(reversalResultSignal, signal.value);
      else await handle.signal(reversalStatusSignal, signal.value);
      return 'signalled';
    } catch (err) {
      await this.#payments.toInbox(
        `reversal_${signal.kind}`,
        reversalId,
        raw,
        err instanceof Error ? err.message : String(err),
      );
      return 'inbox';
    }
  }
}
