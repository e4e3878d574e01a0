/**
 * The lookup use cases behind the HTTP routes: run an Account Balance or Transaction Status workflow
 * and wait a bounded time for its answer, and hand Daraja's Result (from the hook) to its workflow.
 */
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { parseAsyncResult } from '../daraja/callbacks';
import type { Db } from '../db';
import { MalipoError } from '../domain/errors';
import { newId } from '../domain/ids';
import type { Logger } from '../logger';
import { type PublicChannel, resolveChannel } from '../platform/channels';
import type { AuthContext } from '../platform/scopes';
import type { SecretBox } from '../platform/secret-box';
import { darajaLookup, lookupResultSignal } from '../../workflows/daraja-lookup';
import { INITIATOR_RESULT_CODES, lookupSignalOf, nairobiIso } from './results';
import type { BalanceAccount, DarajaLookupResult, LookupKind } from '../domain/lookup';

export interface LookupServiceDeps {
  db: Db;
  box: SecretBox;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
  /** How long the workflow waits for Daraja's Result (MALIPO_LOOKUP_WAIT_MS). */
  waitMs: number;
}

/** The API waits this much longer than the workflow, for the send itself and the worker's latency. */
const WAIT_SLACK_MS = 5_000;

export interface BalanceBody {
  object: 'balance';
  lookupId: string;
  channelId: string;
  accounts: BalanceAccount[];
  completedAt: string;
}

export interface TransactionStatusBody {
  object: 'transaction_status';
  lookupId: string;
  channelId: string;
  found: boolean;
  status: string | null;
  receipt: string | null;
  amount: number | null;
  debitPartyName: string | null;
  creditPartyName: string | null;
  initiatedAt: string | null;
  finalisedAt: string | null;
  reasonType: string | null;
  resultCode: string;
  resultDesc: string;
}

export type TransactionStatusQuery =
  | { receipt: string; originatorConversationId?: undefined }
  | { receipt?: undefined; originatorConversationId: string };

const LABEL: Record<LookupKind, string> = {
  account_balance: 'balance request',
  transaction_status: 'transaction status request',
};

export class LookupService {
  constructor(private readonly deps: LookupServiceDeps) {}

  async balance(auth: AuthContext, channelId?: string): Promise<BalanceBody> {
    const { channel, result } = await this.run(auth, 'account_balance', channelId, {});
    if (result.status !== 'completed') throw this.failure(result);
    return {
      object: 'balance',
      lookupId: result.lookupId,
      channelId: channel.id,
      accounts: result.accounts ?? [],
      completedAt: nairobiIso(result.completedTime) ?? result.decidedAt,
    };
  }

  async transactionStatus(
    auth: AuthContext,
    query: TransactionStatusQuery,
    channelId?: string,
  ): Promise<TransactionStatusBody> {
    const { channel, result } = await this.run(auth, 'transaction_status', channelId, query);
    const answered =
      result.status === 'completed' ||
      (result.status === 'failed' &&
        result.failedAt === 'result' &&
        !INITIATOR_RESULT_CODES.has(result.resultCode ?? ''));
    // Rule: a Result with another code is a valid answer ("no such transaction"), unless the code is
    // about our initiator; a refused request, a timeout and an initiator problem are failures.
    if (!answered) throw this.failure(result);
    const t = result.status === 'completed' ? (result.transaction ?? {}) : {};
    return {
      object: 'transaction_status',
      lookupId: result.lookupId,
      channelId: channel.id,
      found: result.status === 'completed',
      status: t.status ?? null,
      receipt: t.receipt ?? query.receipt ?? null,
      amount: t.amount ?? null,
      debitPartyName: t.debitPartyName ?? null,
      creditPartyName: t.creditPartyName ?? null,
      initiatedAt: nairobiIso(t.initiatedTime),
      finalisedAt: nairobiIso(t.finalisedTime),
      reasonType: t.reasonType ?? null,
      resultCode: result.resultCode ?? '',
      resultDesc: result.resultDesc ?? '',
    };
  }

  /** Starts the lookup's workflow and waits for its answer, at most the workflow's wait plus slack. */
  private async run(
    auth: AuthContext,
    kind: LookupKind,
    channelId: string | undefined,
    query: { receipt?: string | undefined; originatorConversationId?: string | undefined },
  ): Promise<{ channel: PublicChannel; result: DarajaLookupResult }> {
    const { channel, credentials } = await resolveChannel(this.deps.db, this.deps.box, auth, channelId);
    if (!credentials.initiatorName || !credentials.initiatorPassword) {
      throw new MalipoError(
        'CHANNEL_MISCONFIGURED',
        `Channel ${channel.id} has no initiator name and password, which Daraja requires for a ${LABEL[kind]}; set initiatorName and initiatorPassword with PATCH /v1/channels/${channel.id}`,
        {
          details: [
            {
              path: 'channel.initiatorName',
              message: 'required for this request',
              code: 'initiator_missing',
            },
          ],
        },
      );
    }
    const lookupId = newId('lookup');
    const waitMs = this.deps.waitMs;
    const handle = await this.deps.temporal.workflow.start(darajaLookup, {
      workflowId: lookupId,
      taskQueue: this.deps.taskQueue,
      args: [
        {
          lookupId,
          merchantId: auth.merchantId,
          kind,
          channelId: channel.id,
          environment: auth.environment,
          ...(query.receipt ? { receipt: query.receipt } : {}),
          ...(query.originatorConversationId
            ? { originatorConversationId: query.originatorConversationId }
            : {}),
          waitMs,
        },
      ],
      // a safety net: the workflow ends itself after waitMs plus one send
      workflowExecutionTimeout: waitMs + 5 * 60_000,
    });
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      handle.result(),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), waitMs + WAIT_SLACK_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    if (!result) {
      throw new MalipoError(
        'UPSTREAM_TIMEOUT',
        `Daraja did not answer the ${LABEL[kind]} within ${Math.round(waitMs / 1000)} s; try again later`,
        { details: [{ path: 'daraja', message: 'no Result in time', code: 'timeout' }] },
      );
    }
    this.deps.logger.info(
      { lookupId, kind, status: result.status, resultCode: result.resultCode },
      'lookup answered',
    );
    return { channel, result };
  }

  /** The error a lookup that did not succeed answers with. */
  private failure(r: DarajaLookupResult): MalipoError {
    const what = LABEL[r.kind];
    if (r.status === 'timeout') {
      return new MalipoError(
        'UPSTREAM_TIMEOUT',
        `Daraja did not answer the ${what} in time; try again later`,
        {
          details: [{ path: 'daraja', message: 'no Result in time', code: 'timeout' }],
        },
      );
    }
    const code = r.resultCode ?? 'unknown';
    const desc = r.resultDesc ?? '';
    const daraja = [{ path: 'daraja', message: desc, code }];
    if (r.failedAt === 'request' && r.rejectedBy === 'malipo') {
      if (code === 'not_sent') {
        return new MalipoError('UPSTREAM_ERROR', `Malipo could not reach Daraja for the ${what}: ${desc}`, {
          details: daraja,
        });
      }
      if (code === 'certificate_missing') {
        return new MalipoError(
          'SERVICE_UNAVAILABLE',
          `This Malipo installation cannot sign the ${what}: ${desc}`,
        );
      }
      return new MalipoError('CHANNEL_MISCONFIGURED', `The channel cannot send the ${what}: ${desc}`, {
        details: [{ path: 'channel', message: desc, code }],
      });
    }
    const hint = INITIATOR_RESULT_CODES.has(code)
      ? ' Check the channel’s initiator name and password (and that the initiator has the API role).'
      : '';
    const verb = r.failedAt === 'request' ? 'refused' : 'failed';
    return new MalipoError('UPSTREAM_ERROR', `Daraja ${verb} the ${what}: ${code} ${desc}`.trim() + hint, {
      details: daraja,
    });
  }

  /**
   * Hands Daraja's Result to the lookup's workflow. Never throws: Daraja is always acknowledged, even
   * when the body is unreadable or the workflow has already finished (a lookup's Result is not money).
   */
  async deliverResult(lookupId: string, body: unknown): Promise<'signalled' | 'unparseable' | 'gone'> {
    const parsed = parseAsyncResult(body);
    if (!parsed.ok) {
      this.deps.logger.warn({ lookupId, reason: parsed.error }, 'unparseable lookup Result ignored');
      return 'unparseable';
    }
    try {
      await this.deps.temporal.workflow
        .getHandle(lookupId)
        .signal(lookupResultSignal, lookupSignalOf(parsed.value));
      return 'signalled';
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) {
        this.deps.logger.warn({ lookupId, err }, 'could not signal the lookup workflow');
      } else {
        this.deps.logger.info(
          { lookupId, resultCode: parsed.value.resultCode },
          'late lookup Result ignored',
        );
      }
      return 'gone';
    }
  }
}

export function lookupServiceOf(deps: {
  db: Db;
  secretBox: SecretBox;
  temporal: Client;
  logger: Logger;
  config: { TEMPORAL_TASK_QUEUE: string; MALIPO_LOOKUP_WAIT_MS: number };
}): LookupService {
  return new LookupService({
    db: deps.db,
    box: deps.secretBox,
    temporal: deps.temporal,
    taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
    logger: deps.logger,
    waitMs: deps.config.MALIPO_LOOKUP_WAIT_MS,
  });
}
