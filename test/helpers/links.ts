/**
 * For pay-page tests: a PaymentService stand-in that writes the pending row as the real one does
 * (without Temporal) and records each call, and helpers to read and post the form.
 */
import type { Db } from '../../src/db';
import { newId } from '../../src/domain/ids';
import { PaymentRepository, type PaymentView } from '../../src/payments/repository';
import type { CreateStkPaymentInput, PaymentService } from '../../src/payments/service';
import type { AuthContext } from '../../src/platform/scopes';
import type { TestApp } from './http';

export interface Call {
  auth: AuthContext;
  input: CreateStkPaymentInput;
  key: string | undefined;
}

/** A PaymentService that writes the pending row as the real one does, without Temporal. */
export function fakePayments(db: Db, calls: Call[]): PaymentService {
  const repo = new PaymentRepository(db);
  const seen = new Map<string, PaymentView>();
  return {
    repo,
    async createStk(auth: AuthContext, input: CreateStkPaymentInput, key: string | undefined) {
      calls.push({ auth, input, key });
      const prior = key ? seen.get(key) : undefined;
      if (prior) return { status: 202, body: prior, replayed: true };
      const ch = await db
        .selectFrom('channels')
        .select('id')
        .where('merchant_id', '=', auth.merchantId)
        .where('is_default', '=', true)
        .executeTakeFirstOrThrow();
      const view = await repo.createPending({
        id: newId('payment'),
        merchantId: auth.merchantId,
        environment: auth.environment,
        channelId: input.channelId ?? ch.id,
        amount: input.amount,
        phone: input.phone,
        reference: input.reference,
        description: input.description,
        callbackUrl: null,
        metadata: null,
        apiKeyId: auth.keyId,
        linkId: input.linkId ?? null,
      });
      if (key) seen.set(key, view);
      return { status: 202, body: view, replayed: false };
    },
  } as unknown as PaymentService;
}

export async function settle(
  t: Pick<TestApp, 'db'>,
  paymentId: string,
  status: 'success' | 'failed',
  extra: Record<string, unknown> = {},
) {
  await t.db
    .updateTable('payments')
    .set({ status, version: 1, ...extra })
    .where('id', '=', paymentId)
    .execute();
}

export function formBody(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

export const FORM = 'application/x-www-form-urlencoded';

/** The server-issued form token in a pay page. */
export const formKeyOf = (html: string) => /name="formKey" value="([^"]+)"/.exec(html)?.[1] ?? '';
