/** The simulated Daraja lookups: Transaction Status, Account Balance and Dynamic QR. */
import QRCode from 'qrcode';
import type { Router } from 'express';
import type { SandboxState, StatusQueryLedgerEntry } from '../state';
import { INTERNAL_QUEUE_URL, redact } from '../b2c';
import {
  type Body,
  Reply,
  envelope,
  invalid,
  isNumeric,
  isUrl,
  amountOf,
  text,
  readBody,
  authApp,
  route,
  ACCEPTED_ASYNC,
  refuser,
  credentialOk,
} from './common';

/** Transaction Status ReasonType per B2C CommandID (the "… via API" values seen in real results). */
const B2C_REASON_TYPES: Readonly<Record<string, string>> = {
  BusinessPayment: 'Business Payment to Customer via API',
  SalaryPayment: 'Salary Payment via API',
  PromotionPayment: 'Promotion Payment via API',
};

/** `YYYYMMDDHHmmss` in Nairobi time, as a number (InitiatedTime, FinalisedTime, BOCompletedTime). */
const eatNumber = (at: Date): number =>
  Number(new Date(at.getTime() + 3 * 3600_000).toISOString().slice(0, 19).replace(/[-T:]/g, ''));

/** Transaction Status and Account Balance queries. */
export function lookupRoutes(r: Router, state: SandboxState): void {
  // ----- Transaction Status and Account Balance -------------------------------------------
  type Param = { Key: string; Value: string | number };
  /** What a Transaction Status query finds, and the Result parameters describing it. */
  const findTransaction = (
    b: Body,
    query: { originator: string; conversationId: string; eatNow: number },
  ): { found: NonNullable<StatusQueryLedgerEntry['found']>; params: Param[] } | undefined => {
    const byConversation =
      typeof b.OriginalConversationID === 'string' && b.OriginalConversationID !== ''
        ? state.acceptedPayout(b.OriginalConversationID)
        : undefined;
    const receipt =
      typeof b.TransactionID === 'string' && b.TransactionID !== '' ? b.TransactionID : undefined;
    const reversal = state.findReversal({
      ...(typeof b.OriginalConversationID === 'string' && b.OriginalConversationID !== ''
        ? { originatorConversationId: b.OriginalConversationID }
        : {}),
      ...(receipt ? { transactionId: receipt } : {}),
    });
    if (reversal) {
      reversal.statusQueries++;
      // Only a reversal that happened exists; a refused one is unknown, like any failed transaction.
      if (!reversal.reversed || !reversal.transactionId) return undefined;
      const when = eatNumber(new Date(reversal.receivedAt));
      return {
        found: {
          kind: 'reversal',
          receipt: reversal.transactionId,
          id: reversal.originatorConversationId ?? '',
        },
        params: [
          { Key: 'DebitPartyName', Value: `${reversal.receiverParty} - MALIPO SANDBOX` },
          { Key: 'CreditPartyName', Value: `${reversal.original?.phone ?? ''} - SANDBOX CUSTOMER` },
          { Key: 'OriginatorConversationID', Value: reversal.originatorConversationId ?? '' },
          { Key: 'InitiatedTime', Value: when },
          { Key: 'DebitAccountType', Value: 'Utility Account' },
          { Key: 'DebitPartyCharges', Value: '' },
          { Key: 'TransactionReason', Value: '' },
          { Key: 'ReasonType', Value: 'Reversal' },
          { Key: 'TransactionStatus', Value: 'Completed' },
          { Key: 'FinalisedTime', Value: when },
          { Key: 'Amount', Value: reversal.amount },
          { Key: 'ConversationID', Value: reversal.conversationId ?? '' },
          { Key: 'ReceiptNo', Value: reversal.transactionId },
        ],
      };
    }
    const payout = byConversation ?? (receipt ? state.payoutByReceipt(receipt) : undefined);
    if (payout) payout.statusQueries++;
    // Only money that moved exists: a queue-timed-out, 500-rejected or failed payout is unknown.
    if (payout?.paid && payout.receipt) {
      const started = eatNumber(new Date(payout.receivedAt));
      const finished = eatNumber(new Date(payout.completedAt ?? payout.receivedAt));
      return {
        found: { kind: 'b2c', receipt: payout.receipt, id: payout.originatorConversationId },
        params: [
          { Key: 'DebitPartyName', Value: payout.shortcode },
          { Key: 'CreditPartyName', Value: `${payout.phone} - SANDBOX CUSTOMER` },
          { Key: 'OriginatorConversationID', Value: payout.originatorConversationId },
          { Key: 'InitiatedTime', Value: started },
          { Key: 'DebitAccountType', Value: 'Utility Account' },
          { Key: 'DebitPartyCharges', Value: '' },
          { Key: 'TransactionReason', Value: '' },
          {
            Key: 'ReasonType',
            Value: B2C_REASON_TYPES[payout.commandId] ?? 'Business Payment to Customer via API',
          },
          { Key: 'TransactionStatus', Value: 'Completed' },
          { Key: 'FinalisedTime', Value: finished },
          { Key: 'Amount', Value: payout.amount },
          { Key: 'ConversationID', Value: payout.conversationId ?? '' },
          { Key: 'ReceiptNo', Value: payout.receipt },
        ],
      };
    }
    if (!receipt || byConversation) return undefined;
    const stk = state.findByReceipt(receipt);
    if (stk) {
      return {
        found: { kind: 'stk', receipt, id: stk.checkoutRequestId },
        params: [
          { Key: 'DebitPartyName', Value: `${stk.phone} - SANDBOX CUSTOMER` },
          { Key: 'CreditPartyName', Value: `${stk.shortcode} - MALIPO SANDBOX` },
          { Key: 'OriginatorConversationID', Value: query.originator },
          { Key: 'InitiatedTime', Value: query.eatNow },
          { Key: 'DebitAccountType', Value: 'MMF Account For Customer' },
          { Key: 'DebitPartyCharges', Value: '' },
          { Key: 'TransactionReason', Value: '' },
          { Key: 'ReasonType', Value: 'Pay Bill Online' },
          { Key: 'TransactionStatus', Value: 'Completed' },
          { Key: 'FinalisedTime', Value: query.eatNow },
          { Key: 'Amount', Value: stk.amount },
          { Key: 'ConversationID', Value: query.conversationId },
          { Key: 'ReceiptNo', Value: receipt },
        ],
      };
    }
    const c2b = state.c2bPaymentByTransId(receipt);
    if (c2b) c2b.statusQueries++;
    if (c2b?.accepted) {
      const when = Number(c2b.transTime);
      return {
        found: { kind: 'c2b', receipt, id: c2b.transId },
        params: [
          { Key: 'DebitPartyName', Value: `${c2b.phone} - SANDBOX CUSTOMER` },
          { Key: 'CreditPartyName', Value: `${c2b.shortcode} - MALIPO SANDBOX` },
          { Key: 'OriginatorConversationID', Value: query.originator },
          { Key: 'InitiatedTime', Value: when },
          { Key: 'DebitAccountType', Value: 'MMF Account For Customer' },
          { Key: 'DebitPartyCharges', Value: '' },
          { Key: 'TransactionReason', Value: '' },
          { Key: 'ReasonType', Value: c2b.transactionType },
          { Key: 'TransactionStatus', Value: 'Completed' },
          { Key: 'FinalisedTime', Value: when },
          { Key: 'Amount', Value: c2b.amount },
          { Key: 'ConversationID', Value: query.conversationId },
          { Key: 'ReceiptNo', Value: receipt },
        ],
      };
    }
    return undefined;
  };

  const asyncQuery = (kind: 'transaction_status' | 'account_balance') =>
    route(state, kind, (req) => {
      const app = authApp(state, req);
      if (app instanceof Reply) return app;
      const b = readBody(state, req);
      if (b instanceof Reply) return b;
      const refuse = refuser(state, kind, b);
      if (!text(b.Initiator, 1, 64)) return refuse(invalid(state, 'Initiator'));
      if (!text(b.SecurityCredential, 1, 2000)) return refuse(invalid(state, 'SecurityCredential'));
      const command = kind === 'account_balance' ? 'AccountBalance' : 'TransactionStatusQuery';
      if (b.CommandID !== command) return refuse(invalid(state, 'CommandID'));
      if (
        kind === 'transaction_status' &&
        !text(b.TransactionID, 1, 20) &&
        !text(b.OriginalConversationID, 1, 64)
      ) {
        return refuse(invalid(state, 'TransactionID'));
      }
      if (!isNumeric(b.PartyA, /^\d{5,12}$/)) return refuse(invalid(state, 'PartyA'));
      if (!['1', '2', '4'].includes(String(b.IdentifierType)))
        return refuse(invalid(state, 'IdentifierType'));
      if (!text(b.Remarks, 1, 100)) return refuse(invalid(state, 'Remarks'));
      if (!isUrl(b.QueueTimeOutURL)) return refuse(invalid(state, 'QueueTimeOutURL'));
      if (!isUrl(b.ResultURL)) return refuse(invalid(state, 'ResultURL'));
      const at = state.now();
      const asked = {
        transactionId: typeof b.TransactionID === 'string' && b.TransactionID !== '' ? b.TransactionID : null,
        originalConversationId:
          typeof b.OriginalConversationID === 'string' && b.OriginalConversationID !== ''
            ? b.OriginalConversationID
            : null,
      };
      if (state.roll(state.faults.statusQueryError)) {
        state.recordStatusQuery({
          kind,
          at: at.toISOString(),
          httpStatus: 500,
          errorCode: '500.003.1001',
          originatorConversationId: null,
          conversationId: null,
          ...asked,
          found: null,
          resultCode: null,
          resultDesc: null,
          resultUrl: String(b.ResultURL),
          callbacks: [],
        });
        return envelope(state, 500, '500.003.1001', 'Internal Server Error');
      }
      const originator = state.ids.merchantRequestId();
      const conversationId = state.ids.conversationId(at);
      const ok = credentialOk(app, b.Initiator, b.SecurityCredential);
      const eatNow = eatNumber(at);
      let code: number | string = ok ? 0 : 2001;
      let desc = ok
        ? 'The service request is processed successfully.'
        : 'The initiator information is invalid.';
      let params: Param[] = [];
      let found: StatusQueryLedgerEntry['found'] = null;
      if (ok && kind === 'account_balance') {
        params = [
          {
            Key: 'AccountBalance',
            Value:
              'Working Account|KES|900000.00|900000.00|0.00|0.00&Utility Account|KES|10116.00|10116.00|0.00|0.00&Charges Paid Account|KES|-4510.00|-4510.00|0.00|0.00',
          },
          { Key: 'BOCompletedTime', Value: eatNow },
        ];
      } else if (ok) {
        const hit = findTransaction(b, { originator, conversationId, eatNow });
        if (!hit) {
          // Simulator choice: Daraja's code for an unknown receipt / conversation is not documented.
          code = 'R000001';
          desc = 'The transaction receipt number does not exist.';
        } else {
          found = hit.found;
          params = hit.params;
        }
      }
      const receipt = found?.receipt ?? null;
      const query = state.recordStatusQuery({
        kind,
        at: at.toISOString(),
        httpStatus: 200,
        errorCode: null,
        originatorConversationId: originator,
        conversationId,
        ...asked,
        found,
        resultCode: code,
        resultDesc: desc,
        resultUrl: String(b.ResultURL),
        callbacks: [],
      });
      state.recordAsync({
        kind,
        originatorConversationId: originator,
        conversationId,
        at: at.toISOString(),
        request: redact(b),
        resultCode: code,
        receipt,
        callbacks: query.callbacks,
      });
      const result = {
        ResultType: 0,
        ResultCode: code,
        ResultDesc: desc,
        OriginatorConversationID: originator,
        ConversationID: conversationId,
        TransactionID: receipt ?? state.ids.receipt(at),
        ...(params.length > 0 ? { ResultParameters: { ResultParameter: params } } : {}),
        ReferenceData: { ReferenceItem: { Key: 'QueueTimeoutURL', Value: INTERNAL_QUEUE_URL } },
      };
      state.schedule(state.options.callbackDelayMs, () =>
        state.post(String(b.ResultURL), { Result: result }, query.callbacks, { target: 'ResultURL' }),
      );
      return new Reply(200, {
        OriginatorConversationID: originator,
        ConversationID: conversationId,
        ResponseCode: '0',
        ResponseDescription: ACCEPTED_ASYNC,
      });
    });
  r.post('/mpesa/transactionstatus/v1/query', asyncQuery('transaction_status'));
  r.post('/mpesa/accountbalance/v1/query', asyncQuery('account_balance'));
}

/** Dynamic QR generation. */
export function qrRoutes(r: Router, state: SandboxState): void {
  // ----- Dynamic QR ---------------------------------------------------------------------------
  r.post(
    '/mpesa/qrcode/v1/generate',
    route(state, 'qr', async (req) => {
      const app = authApp(state, req);
      if (app instanceof Reply) return app;
      const b = readBody(state, req);
      if (b instanceof Reply) return b;
      if (!text(b.MerchantName, 1, 100)) return invalid(state, 'MerchantName');
      if (!text(b.RefNo, 1, 50)) return invalid(state, 'RefNo');
      const amount = amountOf(b.Amount);
      if (amount === undefined) return invalid(state, 'Amount');
      if (!['BG', 'WA', 'PB', 'SM', 'SB'].includes(String(b.TrxCode))) return invalid(state, 'TrxCode');
      if (!isNumeric(b.CPI, /^\d{5,12}$/)) return invalid(state, 'CPI');
      const size = Number(b.Size ?? 300);
      if (!Number.isInteger(size) || size < 50 || size > 2000) return invalid(state, 'Size');
      const content = `MALIPO-SANDBOX|${String(b.TrxCode)}|${String(b.CPI)}|${amount}|${String(b.RefNo)}|${String(b.MerchantName)}`;
      const dataUrl = await QRCode.toDataURL(content, { width: size, margin: 1 });
      return new Reply(200, {
        ResponseCode: '00', // [UNSURE] per daraja.md §8.6
        RequestID: state.ids.merchantRequestId(),
        ResponseDescription: 'QR Code Successfully Generated.',
        QRCode: dataUrl.replace(/^data:image\/png;base64,/, ''),
      });
    }),
  );
}
