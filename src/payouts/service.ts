/**
 * The payout use cases behind the HTTP routes: create (idempotent; one `b2cPayout` workflow per
 * payout, never a second run), read, list, and hand Daraja's result callbacks to the workflow.
 */
import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { payoutResultSignal, payoutStatusSignal, resolvePayoutUpdate } from '../../workflows/b2c-payout';
import type { ManualResolution } from '../domain/reconciliation';
import { resolveReview } from '../payments/resolve';
import type { Db } from '../db';
import { MalipoError, notFound } from '../domain/errors';
import { newId } from '../domain/ids';
import type { PayoutCommand, PayoutConfig, PayoutResultSignal, PayoutStatusSignal } from '../domain/payout';
import type { Msisdn } from '../domain/phone';
import {
  MalipoAmount,
  MalipoChannelId,
  MalipoMerchantId,
  MalipoReference,
  MalipoStatus,
} from '../domain/search-attributes';
import type { Logger } from '../logger';
import { createOnce } from '../payments/create-once';
import { IdempotencyStore } from '../payments/idempotency';
import { PaymentRepository } from '../payments/repository';
import { resolveChannel } from '../platform/channels';
import type { AuthContext } from '../platform/scopes';
import type { SecretBox } from '../platform/secret-box';
import { PayoutRepository, type PayoutView } from './repository';

export interface PayoutServiceDeps {
  db: Db;
  box: SecretBox;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
  payoutConfig?: Partial<PayoutConfig> | undefined;
}

export interface CreatePayoutInput {
  phone: Msisdn;
  amount: number;
  commandId: PayoutCommand;
  remarks: string;
  occasion?: string | undefined;
  reference: string;
  channelId?: string | undefined;
  callbackUrl?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
}

/** The workflow type name, as exported from workflows/index.ts. */
export const B2C_PAYOUT_WORKFLOW = 'b2cPayout';
const IDEMPOTENCY_SCOPE = 'payouts.b2c';

export class PayoutService {
  readonly repo: PayoutRepository;
  readonly idempotency: IdempotencyStore;
  readonly #inbox: PaymentRepository;

  constructor(private readonly deps: PayoutServiceDeps) {
    this.repo = new PayoutRepository(deps.db);
    this.idempotency = new IdempotencyStore(deps.db);
    this.#inbox = new PaymentRepository(deps.db);
  }

  async create(
    auth: AuthContext,
    input: CreatePayoutInput,
    idempotencyKey: string | undefined,
    rawBody: unknown,
  ): Promise<{ status: number; body: PayoutView; replayed: boolean }> {
    const { channel, credentials } = await resolveChannel(this.deps.db, this.deps.box, auth, input.channelId);
    if (!credentials.initiatorName || !credentials.initiatorPassword) {
      throw new MalipoError(
        'CHANNEL_MISCONFIGURED',
        `Channel ${channel.id} cannot pay out: it has no initiator name and password`,
        {
          details: [
            {
              path: 'channelId',
              message: 'the channel needs initiatorName and initiatorPassword',
              code: 'custom',
            },
          ],
        },
      );
    }
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
      table: 'payouts',
      scope,
      rawBody,
      proposedId: newId('payout'),
      run: async (payoutId) => {
        const created = await this.repo.createPending({
          id: payoutId,
          merchantId: auth.merchantId,
          environment: auth.environment,
          channelId: channel.id,
          amount: input.amount,
          phone: input.phone,
          commandId: input.commandId,
          remarks: input.remarks,
          occasion: input.occasion ?? null,
          reference: input.reference,
          callbackUrl: input.callbackUrl ?? null,
          metadata: input.metadata ?? null,
          apiKeyId: auth.keyId,
        });
        await this.#start(auth, created);
        // the row may already have moved on (a retry after the workflow ran): answer what is stored
        return (await this.repo.getById(payoutId)) ?? created;
      },
    });
  }

  async #start(auth: AuthContext, p: PayoutView): Promise<void> {
    try {
      await this.deps.temporal.workflow.start(B2C_PAYOUT_WORKFLOW, {
        workflowId: p.id,
        taskQueue: this.deps.taskQueue,
        // a retried request joins the running workflow, and never starts a second run (a second payout)
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        args: [
          {
            payoutId: p.id,
            merchantId: auth.merchantId,
            channelId: p.channelId,
            environment: auth.environment,
            amount: p.amount,
            phone: p.phone,
            commandId: p.commandId,
            remarks: p.remarks,
            ...(p.occasion ? { occasion: p.occasion } : {}),
            reference: p.reference,
            ...(this.deps.payoutConfig ? { config: this.deps.payoutConfig } : {}),
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
    } catch (err) {
      // the payout's workflow already ran to its end: the stored row is the answer
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      throw err;
    }
  }

  async get(auth: AuthContext, id: string): Promise<PayoutView> {
    const view = await this.repo.get(auth.merchantId, id);
    if (!view || view.environment !== auth.environment) throw notFound('Payout');
    return view;
  }

  /** Resolves a `needs_review` payout by hand (see src/payments/resolve.ts). */
  async resolve(
    auth: AuthContext,
    id: string,
    r: ManualResolution,
  ): Promise<{ view: PayoutView; eventId: string | null }> {
    return resolveReview(
      {
        what: 'Payout',
        read: () => this.get(auth, id),
        update: (res) =>
          this.deps.temporal.workflow.getHandle(id).executeUpdate(resolvePayoutUpdate, { args: [res] }),
        direct: (res) => this.repo.resolveDirectly(id, res),
      },
      r,
    );
  }

  /**
   * Hands a parsed result (ResultURL / QueueTimeOutURL) or a Transaction Status answer to the
   * payout's workflow; when no running workflow takes it, it goes to the inbox. Never dropped.
   */
  async deliver(
    payoutId: string,
    signal: { kind: 'result'; value: PayoutResultSignal } | { kind: 'status'; value: PayoutStatusSignal },
    raw: unknown,
  ): Promise<'signalled' | 'inbox'> {
    const handle = this.deps.temporal.workflow.getHandle(payoutId);
    try {
      if (signal.kind === 'result') await handle.signal(payoutResultSignal, signal.value);
      else await handle.signal(payoutStatusSignal, signal.value);
      return 'signalled';
    } catch (err) {
      await this.#inbox.toInbox(
        `b2c_${signal.kind}`,
        payoutId,
        raw,
        err instanceof Error ? err.message : String(err),
      );
      return 'inbox';
    }
  }
}
