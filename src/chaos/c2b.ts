/**
 * C2B confirmations under `malipo chaos`: customers pay the run's C2B paybill through the simulator
 * (which confirms to the channel's registered ConfirmationURL and retries until answered 2xx), while
 * this flow sends the same confirmations again, as Daraja may: at once (racing the first), later in
 * shuffled batches (out of order), and once more after the kills. Checked against the simulator's C2B
 * ledger: every accepted TransID is exactly one `c2b` payment on the right channel, with its amount.
 */
import type { C2bPaymentLedgerEntry, LedgerSnapshot } from '../sandbox';
import type { ChaosContext, Flow, FlowCheck } from './kinds';
import { shuffle } from './kinds';

/** Customers, in turn. */
const C2B_PHONES = ['254708374149', '254712345678', '254110000001'];

export interface C2bFlowOptions {
  /** The simulator's base URL (control API under `/sandbox/__sandbox`). */
  sandboxUrl: string;
  channelId: string;
  shortcode: string;
  /** The simulator's c2bConfirmationAttempts: after that many, it stops confirming. */
  confirmationAttempts: number;
}

export interface C2bFlow extends Flow {
  /** Sends the delayed duplicates queued so far, shuffled. */
  flush(): Promise<void>;
  /** After the kills: sends again, in random order, about a third of every accepted confirmation. */
  replayAfterKills(): Promise<void>;
}

export function c2bFlow(ctx: ChaosContext, o: C2bFlowOptions): C2bFlow {
  const paid = new Map<number, string>();
  const acknowledged = new Set<string>();
  const delayed: string[] = [];
  const counters = { racing: 0, delayed: 0, afterKills: 0, replays: 0, replaysAcknowledged: 0 };

  const ours = (e: C2bPaymentLedgerEntry) => e.shortcode === o.shortcode;

  /** POSTs the confirmation the simulator sent (or is sending) for `transId` once more. */
  const replay = async (transId: string) => {
    const e = ctx.state.c2bPaymentByTransId(transId);
    if (!e?.confirmation.request) return;
    counters.replays++;
    try {
      const res = await fetch(e.registration.confirmationUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(e.confirmation.request),
        signal: AbortSignal.timeout(30_000),
      });
      await res.text();
      if (res.status >= 200 && res.status < 300) {
        counters.replaysAcknowledged++;
        acknowledged.add(transId);
      }
    } catch {
      // the API restarting: the simulator's own retries still deliver it
    }
  };

  const drive = async (k: number) => {
    const body = {
      shortcode: o.shortcode,
      amount: 10 + (k % 90),
      phone: C2B_PHONES[k % C2B_PHONES.length],
      billRefNumber: `CHC${ctx.run}${k}`,
      transactionType: 'Pay Bill',
    };
    let res: Response;
    try {
      res = await fetch(`${o.sandboxUrl}/sandbox/__sandbox/c2b/payments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      ctx.violate(`C2B payment #${k}: the simulator did not answer: ${String(err)}`);
      return;
    }
    const text = await res.text();
    if (res.status !== 200) {
      ctx.violate(`C2B payment #${k}: the simulator answered ${res.status}: ${text.slice(0, 200)}`);
      return;
    }
    const answer = JSON.parse(text) as { transId: string; accepted: boolean };
    paid.set(k, answer.transId);
    if (!answer.accepted) return;
    if (k % 5 === 0) {
      // sent at once: races the simulator's first POST of the same confirmation
      counters.racing++;
      await replay(answer.transId);
    } else if (k % 5 === 1 || k % 5 === 2) {
      counters.delayed++;
      delayed.push(answer.transId);
    }
  };

  const flush = async () => {
    const batch = shuffle(delayed.splice(0));
    await Promise.all(batch.map((t) => replay(t)));
  };

  const replayAfterKills = async () => {
    await flush();
    const accepted = ctx.state
      .ledger()
      .c2bPayments.filter((e) => ours(e) && e.accepted)
      .map((e) => e.transId);
    const pick = shuffle(accepted).slice(
      0,
      Math.max(accepted.length > 0 ? 1 : 0, Math.ceil(accepted.length / 3)),
    );
    counters.afterKills += pick.length;
    for (let i = 0; i < pick.length; i += 10) await Promise.all(pick.slice(i, i + 10).map((t) => replay(t)));
  };

  /** The simulator confirms no more: delivered, or its last attempt is over. */
  const done = (e: C2bPaymentLedgerEntry) => {
    if (e.accepted === null) return false;
    if (!e.accepted || e.confirmation.delivered) return true;
    const a = e.confirmation.attempts;
    const last = a[a.length - 1];
    return (
      a.length >= o.confirmationAttempts &&
      last !== undefined &&
      (last.httpStatus !== undefined || last.error !== undefined)
    );
  };

  const settled = async () => delayed.length === 0 && ctx.state.ledger().c2bPayments.filter(ours).every(done);

  const check = async (ledger: LedgerSnapshot): Promise<FlowCheck> => {
    const rows = await ctx.db
      .selectFrom('payments')
      .select(['id', 'channel_id', 'mpesa_receipt', 'amount', 'status'])
      .where('merchant_id', '=', ctx.merchantId)
      .where('kind', '=', 'c2b')
      .execute();
    const byReceipt = new Map<string, typeof rows>();
    for (const r of rows) {
      const list = byReceipt.get(r.mpesa_receipt ?? '') ?? [];
      list.push(r);
      byReceipt.set(r.mpesa_receipt ?? '', list);
    }
    const entries = ledger.c2bPayments.filter(ours);
    const inLedger = new Set(entries.map((e) => e.transId));
    let success = 0;
    let rejected = 0;
    let wrong = 0;
    let double = 0;
    let unreachable = 0;
    const finalIds: string[] = [];
    for (const e of entries) {
      const found = byReceipt.get(e.transId) ?? [];
      finalIds.push(...found.map((r) => r.id));
      if (!e.accepted) {
        rejected++;
        if (found.length > 0) {
          wrong++;
          ctx.violate(`C2B ${e.transId}: rejected in the ledger, yet recorded as a payment`);
        }
        continue;
      }
      if (found.length > 1) {
        double++;
        ctx.violate(`C2B ${e.transId}: ${found.length} payments`);
      }
      const r = found[0];
      if (!r) {
        const answered = e.confirmation.attempts.some((a) => a.httpStatus !== undefined);
        if (!e.confirmation.delivered && !acknowledged.has(e.transId) && !answered) {
          // no API process answered any attempt: lost to Malipo, as the guarantees say; counted apart
          unreachable++;
        } else {
          wrong++;
          ctx.violate(
            `C2B ${e.transId}: confirmed (${e.confirmation.attempts.map((a) => a.httpStatus ?? 'error').join(', ')}) but no payment`,
          );
        }
        continue;
      }
      if (r.channel_id !== o.channelId || r.amount !== e.amount || r.status !== 'success') {
        wrong++;
        ctx.violate(
          `C2B ${e.transId}: payment ${r.id} on ${r.channel_id}, ${r.amount} KES, ${r.status}; the ledger says ${o.channelId}, ${e.amount} KES`,
        );
      } else success++;
    }
    for (const r of rows) {
      if (!inLedger.has(r.mpesa_receipt ?? '')) {
        wrong++;
        ctx.violate(`C2B payment ${r.id}: receipt ${r.mpesa_receipt} is in no ledger entry`);
      }
    }
    const inbox = await ctx.db
      .selectFrom('callback_inbox')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('kind', '=', 'c2b_confirmation')
      .executeTakeFirstOrThrow();
    if (Number(inbox.n) > 0) ctx.violate(`${inbox.n} C2B confirmations went to the callback inbox`);
    if (paid.size !== entries.length)
      ctx.violate(`${paid.size} C2B payments driven, ${entries.length} in the ledger`);

    const attempts = entries.flatMap((e) => e.confirmation.attempts);
    return {
      summary: {
        kind: 'c2b confirmations',
        total: entries.length,
        success,
        failed: rejected,
        needsReview: undefined,
        wrong,
        double,
      },
      lines: [
        ['C2B payments accepted / rejected', `${entries.length - rejected} / ${rejected}`],
        [
          'C2B confirmation POSTs by the simulator (not 2xx)',
          `${attempts.length} (${attempts.filter((a) => !a.ok).length})`,
        ],
        [
          'C2B duplicates sent: racing / delayed, shuffled / after the kills',
          `${counters.racing} / ${counters.delayed} / ${counters.afterKills}`,
        ],
        ['C2B duplicates acknowledged', `${counters.replaysAcknowledged}/${counters.replays}`],
        ['C2B confirmations no API process ever answered', unreachable],
      ],
      finalIds,
    };
  };

  return { drive, flush, replayAfterKills, settled, check };
}
