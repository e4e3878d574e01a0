/**
 * B2C payouts under `malipo chaos`: every B2C scenario phone (and an ordinary one) under the
 * simulator's B2C faults, with idempotent replays and forged Results, checked payout by payout
 * against the simulator's B2C ledger: a final status the ledger contradicts is wrong, a payout paid
 * twice (or sent twice) is double; `needs_review` is counted apart, as the honest answer where
 * nothing could name the truth.
 */
import { payoutCallbackPath } from '../payouts/callback-paths';
import { B2C_SCENARIOS, type LedgerSnapshot, type PayoutLedgerEntry } from '../sandbox';
import type { ChaosContext, Flow, FlowCheck } from './kinds';

/** Recipients, in turn: every B2C scenario phone, then an ordinary phone (paid). */
export const PAYOUT_PHONES: readonly string[] = [...B2C_SCENARIOS.map((s) => s.phone), '254712345678'];
const COMMANDS = ['BusinessPayment', 'SalaryPayment', 'PromotionPayment'] as const;

export interface PayoutFlow extends Flow {
  /** After driving: forged Results for every 10th payout (wrong token; right token naming another request). */
  forge(): Promise<void>;
}

export function payoutFlow(ctx: ChaosContext): PayoutFlow {
  const created = new Map<number, { id: string; amount: number; phone: string }>();
  const extraIds = new Set<string>();
  const counters = {
    idempotentReplays: 0,
    forgedWrongToken: 0,
    forgedWrongTokenAccepted: 0,
    forgedForeign: 0,
  };

  const drive = async (j: number) => {
    const phone = PAYOUT_PHONES[j % PAYOUT_PHONES.length] as string;
    const body = {
      phone,
      amount: 10 + (j % 97),
      commandId: COMMANDS[j % COMMANDS.length],
      remarks: 'Chaos payout',
      reference: `CHP${ctx.run}${j}`,
    };
    const idem = `chaos-po-${ctx.run}-${j}`;
    const accepted = await ctx.submit(`payout #${j}`, '/v1/payouts', body, idem);
    if (!accepted) return;
    created.set(j, { id: accepted.id, amount: body.amount, phone });
    // every 10th: a retry after success must replay the same payout
    if (j % 10 === 0) {
      try {
        const again = await ctx.call('POST', '/v1/payouts', body, { 'idempotency-key': idem });
        counters.idempotentReplays++;
        if (again.status === 202 && again.body.id !== accepted.id) extraIds.add(again.body.id);
      } catch {
        // an API kill: fine
      }
    }
  };

  const forge = async () => {
    const all = [...created.values()];
    for (let k = 0; k < all.length; k += 10) {
      const p = all[k] as (typeof all)[number];
      const other = all[(k + 1) % all.length] ?? p;
      const result = {
        Result: {
          ResultType: 0,
          ResultCode: 0,
          ResultDesc: 'The service request is processed successfully.',
          // another payout's request: a Result that does not name this payout's request settles nothing
          OriginatorConversationID: other.id === p.id ? `${p.id}X` : other.id,
          ConversationID: `AG_20250101_forged${k}`,
          TransactionID: 'FORGEDB2C',
          ResultParameters: {
            ResultParameter: [
              { Key: 'TransactionAmount', Value: p.amount },
              { Key: 'TransactionReceipt', Value: 'FORGEDB2C' },
              { Key: 'ReceiverPartyPublicName', Value: `${p.phone} - FORGED` },
              { Key: 'TransactionCompletedDateTime', Value: '01.01.2025 12:00:00' },
            ],
          },
        },
      };
      const post = (path: string) =>
        fetch(`${ctx.hookBase}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(result),
          signal: AbortSignal.timeout(30_000),
        });
      try {
        const wrong = await post(`/hooks/daraja/b2c/${p.id}/${'A'.repeat(43)}/result`);
        counters.forgedWrongToken++;
        // refused either way: 404 from the route, or 429 once this address spent its wrong-token budget
        if (wrong.status !== 404 && wrong.status !== 429) counters.forgedWrongTokenAccepted++;
        const right = await post(payoutCallbackPath(ctx.callbackSecret, p.id, 'result'));
        counters.forgedForeign++;
        if (right.status !== 200) ctx.violate(`forged payout Result answered ${right.status}`);
      } catch {
        // the API restarting
      }
    }
    if (counters.forgedWrongTokenAccepted > 0)
      ctx.violate(`${counters.forgedWrongTokenAccepted} wrong-token payout Results not refused`);
  };

  const rows = () =>
    ctx.db.selectFrom('payouts').selectAll().where('merchant_id', '=', ctx.merchantId).execute();

  const settled = async () => (await rows()).every((r) => r.status !== 'pending');

  const check = async (ledger: LedgerSnapshot): Promise<FlowCheck> => {
    const all = await rows();
    const byId = new Map(all.map((r) => [r.id, r]));
    const requests = new Map<string, PayoutLedgerEntry[]>();
    for (const e of ledger.payouts) {
      const list = requests.get(e.originatorConversationId) ?? [];
      list.push(e);
      requests.set(e.originatorConversationId, list);
    }
    const outcomes: Record<string, number> = {};
    const reviewReasons: Record<string, number> = {};
    let wrong = 0;
    let double = 0;
    let reviewPaid = 0;
    const finalIds: string[] = [];
    const ids = new Set([...created.values()].map((p) => p.id));
    for (const { id } of created.values()) {
      const row = byId.get(id);
      if (!row) {
        ctx.violate(`${id}: no payout row`);
        continue;
      }
      outcomes[row.status] = (outcomes[row.status] ?? 0) + 1;
      if (row.status === 'pending') {
        ctx.violate(`${id}: payout still pending at the deadline`);
        continue;
      }
      finalIds.push(id);
      const sent = requests.get(id) ?? [];
      const paidEntries = sent.filter((e) => e.paid);
      if (paidEntries.length > 1) {
        double++;
        ctx.violate(`${id}: paid ${paidEntries.length} times`);
      } else if (sent.length > 1) {
        // one B2C request per payout: a request whose outcome is unknown is never sent again
        double++;
        ctx.violate(`${id}: ${sent.length} B2C requests (HTTP ${sent.map((e) => e.httpStatus).join(', ')})`);
      }
      const paid = paidEntries[0];
      if (row.status === 'success') {
        if (!paid) {
          wrong++;
          ctx.violate(`${id}: payout success but the ledger paid nothing`);
        } else if (row.amount !== paid.amount || row.mpesa_receipt !== paid.receipt) {
          wrong++;
          ctx.violate(
            `${id}: success with amount ${row.amount} / receipt ${row.mpesa_receipt}, the ledger paid ${paid.amount} / ${paid.receipt}`,
          );
        }
      } else if (row.status === 'failed' && paid) {
        wrong++;
        ctx.violate(`${id}: payout failed (${row.failure_reason}) but the ledger paid it`);
      } else if (row.status === 'needs_review') {
        const reason = row.review_reason ?? 'unknown';
        reviewReasons[reason] = (reviewReasons[reason] ?? 0) + 1;
        if (paid) reviewPaid++;
      }
      if (String(row.mpesa_receipt ?? '').startsWith('FORGED')) {
        wrong++;
        ctx.violate(`${id}: a forged payout Result was believed`);
      }
    }
    for (const e of ledger.payouts) {
      if (!ids.has(e.originatorConversationId))
        ctx.violate(`B2C request ${e.originatorConversationId} belongs to no accepted payout`);
    }
    if (all.length !== created.size)
      ctx.violate(`${all.length} payout rows for ${created.size} distinct requests`);
    if (extraIds.size > 0) ctx.violate(`${extraIds.size} idempotent payout retries created another payout`);

    const count = (f: (e: PayoutLedgerEntry) => boolean) => ledger.payouts.filter(f).length;
    const status = ledger.statusQueries.filter((q) => q.kind === 'transaction_status');
    return {
      summary: {
        kind: 'b2c payouts',
        total: created.size,
        success: outcomes.success ?? 0,
        failed: outcomes.failed ?? 0,
        needsReview: outcomes.needs_review ?? 0,
        wrong,
        double,
      },
      lines: [
        ['payouts accepted', created.size],
        [
          'B2C requests: accepted / HTTP 500 / duplicate refused',
          `${count((e) => e.httpStatus === 200)} / ${count((e) => e.httpStatus === 500 && e.source !== 'duplicate')} / ${count((e) => e.source === 'duplicate')}`,
        ],
        [
          'B2C Results dropped / duplicated / to QueueTimeOutURL',
          `${count((e) => e.delivery === 'dropped')} / ${count((e) => e.delivery === 'duplicate')} / ${count((e) => e.delivery === 'queue_timeout_url')}`,
        ],
        ['B2C answers held back (ambiguous)', count((e) => e.responseDelayed)],
        ['B2C paid in the ledger', count((e) => e.paid)],
        [
          'Transaction Status requests (answered 500)',
          `${status.length} (${status.filter((q) => q.httpStatus === 500).length})`,
        ],
        ['payout needs_review by reason', JSON.stringify(reviewReasons)],
        ['payout needs_review where money moved', reviewPaid],
        [
          'forged payout Results, wrong token (404 or 429)',
          `${counters.forgedWrongToken - counters.forgedWrongTokenAccepted}/${counters.forgedWrongToken}`,
        ],
        ['forged payout Results, right token, another request', counters.forgedForeign],
        ['payout idempotent replays', counters.idempotentReplays],
      ],
      finalIds,
    };
  };

  return { drive, forge, settled, check };
}
