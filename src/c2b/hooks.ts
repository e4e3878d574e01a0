/**
 * What Daraja's C2B calls do. Both hooks are public: the path names the channel and carries its token
 * (checked in constant time; a wrong one is a 404). Bodies are parsed tolerantly and NUL-safely.
 *
 * - Validation asks "may this customer pay?" and waits about 8 s for the answer, after which the
 *   registration's ResponseType applies. It records nothing. When the answer cannot be worked out in
 *   time (the database is slow or down) the hook answers 503 at once, which also lets ResponseType decide.
 * - Confirmation says "this customer paid": final, never to be lost. It is stored (payment + event in
 *   one transaction, once per TransID on the channel: the same TransID on another channel is that
 *   channel's payment, never a duplicate) before it is acknowledged; anything that cannot be a payment row
 *   is kept in the callback inbox and acknowledged; a database failure answers 5xx so Daraja retries.
 */
import {
  C2B_CONFIRMATION_REPLY,
  type C2bNotification,
  c2bValidationReply,
  parseC2bNotification,
} from '../daraja/transformers';
import { MalipoError } from '../domain/errors';
import { type PaymentRepository, withoutNul } from '../payments/repository';
import { type DeliveryStarter, dispatchEvent } from '../webhooks/dispatch';
import type { WebhookRepository } from '../webhooks/repository';
import type { C2bRepository, ConfirmationResult } from './repository';
import { channelIdFromSegment, verifyC2bToken } from './urls';

/** Daraja waits about 8 s for a validation answer; answer (or give up) well before that. */
export const VALIDATION_BUDGET_MS = 5_000;

/** The callback inbox kinds C2B uses (`payment_id` holds the channel id). */
export const C2B_INBOX = { confirmation: 'c2b_confirmation' } as const;

export interface HookLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface C2bHookDeps {
  callbackSecret: string;
  repo: C2bRepository;
  /** For the callback inbox. */
  payments: Pick<PaymentRepository, 'toInbox'>;
  webhooks: WebhookRepository;
  deliveryStarter: DeliveryStarter;
  validationBudgetMs?: number | undefined;
}

export type ValidationReply = ReturnType<typeof c2bValidationReply>;
export type ConfirmationReply = typeof C2B_CONFIRMATION_REPLY;

/** The channel the path names, or a 404 (logged) when the segment or token is wrong. */
function channelOf(deps: C2bHookDeps, segment: string, token: string, path: string, log: HookLog): string {
  const channelId = channelIdFromSegment(segment);
  if (channelId === undefined || !verifyC2bToken(deps.callbackSecret, channelId, token)) {
    log.warn({ channel: segment.slice(0, 80) }, 'c2b hook with a wrong channel or token refused');
    throw new MalipoError('RESOURCE_NOT_FOUND', `No route for POST ${path.replace(token, '…')}`);
  }
  return channelId;
}

function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

export async function handleValidation(
  deps: C2bHookDeps,
  req: { segment: string; token: string; path: string; body: unknown },
  log: HookLog,
): Promise<ValidationReply> {
  const channelId = channelOf(deps, req.segment, req.token, req.path, log);
  const parsed = parseC2bNotification(withoutNul(req.body));
  const work = (async (): Promise<ValidationReply> => {
    const channel = await deps.repo.channel(channelId);
    if (!channel) throw new MalipoError('RESOURCE_NOT_FOUND', 'Channel not found');
    if (!parsed.ok) {
      // accept_all needs nothing from the body; any other rule cannot judge what it cannot read
      log.warn({ channelId, error: parsed.error }, 'unreadable c2b validation request');
      return channel.validation === 'accept_all'
        ? c2bValidationReply({ accept: true })
        : c2bValidationReply({ accept: false, reason: 'other' });
    }
    const decision = await deps.repo.decide(channel, parsed.value);
    const reply = c2bValidationReply(decision.accept ? { accept: true } : decision);
    log.info(
      {
        channelId,
        transId: parsed.value.transactionId,
        amount: parsed.value.amount,
        rule: channel.validation,
        resultCode: reply.ResultCode,
        linkId: decision.accept ? decision.linkId : null,
      },
      'c2b validation',
    );
    return reply;
  })();
  try {
    return await within(work, deps.validationBudgetMs ?? VALIDATION_BUDGET_MS);
  } catch (err) {
    if (err instanceof MalipoError) throw err;
    work.catch(() => undefined);
    log.error(
      { err, channelId },
      'c2b validation could not be decided; the registration’s ResponseType applies',
    );
    throw new MalipoError(
      'SERVICE_UNAVAILABLE',
      'The validation could not be decided in time; M-Pesa applies the registered ResponseType',
      { cause: err },
    );
  }
}

export async function handleConfirmation(
  deps: C2bHookDeps,
  req: { segment: string; token: string; path: string; body: unknown },
  log: HookLog,
): Promise<{ reply: ConfirmationReply; result: ConfirmationResult | { outcome: 'inbox'; reason: string } }> {
  const channelId = channelOf(deps, req.segment, req.token, req.path, log);
  // NUL cannot be stored (text/jsonb) and is never in a genuine notification: keep it visible as U+FFFD
  const clean = withoutNul(req.body);
  const toInbox = async (reason: string) => {
    await deps.payments.toInbox(C2B_INBOX.confirmation, channelId, clean, reason);
    log.error(
      { channelId, reason },
      'c2b confirmation kept in the callback inbox, not recorded as a payment',
    );
    return { reply: C2B_CONFIRMATION_REPLY, result: { outcome: 'inbox' as const, reason } };
  };
  const channel = await deps.repo.channel(channelId);
  if (!channel) return toInbox('c2b confirmation for a channel that no longer exists');
  const parsed = parseC2bNotification(clean);
  if (!parsed.ok) return toInbox(`unparseable c2b confirmation: ${parsed.error}`);
  const n: C2bNotification = parsed.value;
  if (n.shortcode !== '' && n.shortcode !== channel.payShortcode) {
    log.warn(
      { channelId, shortcode: n.shortcode, expected: channel.payShortcode },
      'c2b confirmation names another shortcode',
    );
  }
  const result = await deps.repo.recordConfirmation(channel, n);
  if (result.outcome === 'unrecordable') return toInbox(`c2b confirmation not recordable: ${result.reason}`);
  log.info(
    {
      channelId,
      paymentId: result.payment.id,
      transId: n.transactionId,
      amount: n.amount,
      outcome: result.outcome,
    },
    result.outcome === 'recorded'
      ? 'c2b payment recorded'
      : 'c2b confirmation repeated; nothing new recorded',
  );
  if (result.eventId !== null) {
    // planning and starting deliveries is idempotent, so a repeated confirmation also heals a failed start
    try {
      await dispatchEvent(deps.webhooks, deps.deliveryStarter, result.eventId);
    } catch (err) {
      log.error({ err, eventId: result.eventId }, 'c2b payment stored, its webhooks could not be started');
      throw new MalipoError(
        'SERVICE_UNAVAILABLE',
        'The payment is recorded but its webhooks could not be started; send the confirmation again',
        { cause: err },
      );
    }
  }
  return { reply: C2B_CONFIRMATION_REPLY, result };
}
