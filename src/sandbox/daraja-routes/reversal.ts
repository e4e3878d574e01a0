/** The simulated Daraja Reversal endpoint (daraja.md §8.7). */
import type { Router } from 'express';
import type { SandboxState } from '../state';
import { redact } from '../b2c';
import { decideReversal, deliverReversalResult } from '../reversal';
import {
  Reply,
  envelope,
  invalid,
  isShortcode,
  isUrl,
  amountOf,
  text,
  readBody,
  authApp,
  route,
  ACCEPTED_ASYNC,
  refuser,
  holdBack,
  credentialOk,
} from './common';

/** The Reversal request. */
export function reversalRoutes(r: Router, state: SandboxState): void {
  // ----- Reversal (daraja.md §8.7) --------------------------------------------------------------
  r.post(
    '/mpesa/reversal/v1/request',
    route(state, 'reversal', (req, res) => {
      const app = authApp(state, req);
      if (app instanceof Reply) return app;
      const b = readBody(state, req);
      if (b instanceof Reply) return b;
      const refuse = refuser(state, 'reversal', b);
      if (!text(b.Initiator, 1, 64)) return refuse(invalid(state, 'Initiator'));
      if (!text(b.SecurityCredential, 1, 2000)) return refuse(invalid(state, 'SecurityCredential'));
      if (b.CommandID !== 'TransactionReversal') return refuse(invalid(state, 'CommandID'));
      if (typeof b.TransactionID !== 'string' || !/^[A-Z0-9]{10}$/.test(b.TransactionID))
        return refuse(invalid(state, 'TransactionID'));
      const amount = amountOf(b.Amount);
      if (amount === undefined) return refuse(invalid(state, 'Amount'));
      if (!isShortcode(b.ReceiverParty)) return refuse(invalid(state, 'ReceiverParty'));
      // sic: RecieverIdentifierType (daraja.md §1.4); 11 = organisation shortcode
      if (String(b.RecieverIdentifierType) !== '11') return refuse(invalid(state, 'RecieverIdentifierType'));
      if (!text(b.Remarks, 2, 100)) return refuse(invalid(state, 'Remarks'));
      if (!isUrl(b.QueueTimeOutURL)) return refuse(invalid(state, 'QueueTimeOutURL'));
      if (!isUrl(b.ResultURL)) return refuse(invalid(state, 'ResultURL'));
      const at = state.now();
      const f = state.faults;
      // every die is drawn, in a fixed order, so a seed replays the same faults
      const rolls = {
        error500: state.roll(f.reversalRequestError500),
        lost: state.roll(f.reversalLostResponse),
        drop: state.roll(f.reversalResultDrop),
        late: state.roll(f.reversalResultLate),
        duplicate: state.roll(f.reversalResultDuplicate),
      };
      const base = {
        receivedAt: at.toISOString(),
        request: redact(b),
        originalTransactionId: b.TransactionID,
        amount,
        receiverParty: String(b.ReceiverParty),
        resultUrl: String(b.ResultURL),
        queueTimeoutUrl: String(b.QueueTimeOutURL),
        statusQueries: 0,
        callbacks: [],
      };
      if (rolls.error500) {
        // Received, answered 500, never executed.
        state.recordReversal({
          ...base,
          originatorConversationId: null,
          conversationId: null,
          original: null,
          httpStatus: 500,
          errorCode: '500.003.1001',
          responseDelayed: false,
          faults: ['reversalRequestError500'],
          processed: false,
          reversed: false,
          resultCode: null,
          resultDesc: null,
          transactionId: null,
          delivery: 'none',
        });
        return envelope(state, 500, '500.003.1001', 'Internal Server Error');
      }
      const ok = credentialOk(app, b.Initiator, b.SecurityCredential);
      const outcome = decideReversal(state, b.TransactionID, amount, ok);
      const faults: string[] = [];
      if (rolls.lost) faults.push('reversalLostResponse');
      let delivery: 'result_url' | 'duplicate' | 'late' | 'dropped' = 'result_url';
      if (rolls.drop) {
        delivery = 'dropped';
        faults.push('reversalResultDrop');
      } else if (rolls.late) {
        delivery = 'late';
        faults.push('reversalResultLate');
      } else if (rolls.duplicate) {
        delivery = 'duplicate';
        faults.push('reversalResultDuplicate');
      }
      const originator = state.ids.merchantRequestId();
      const conversationId = state.ids.conversationId(at);
      const entry = state.recordReversal({
        ...base,
        originatorConversationId: originator,
        conversationId,
        original: outcome.original,
        httpStatus: 200,
        errorCode: null,
        responseDelayed: rolls.lost,
        faults,
        processed: true,
        reversed: outcome.code === 0,
        resultCode: outcome.code,
        resultDesc: outcome.desc,
        transactionId: state.ids.receipt(at),
        delivery,
      });
      deliverReversalResult(state, entry);
      state.log('sandbox: Reversal accepted', { originator, reversed: entry.reversed, delivery, faults });
      const ack = new Reply(200, {
        OriginatorConversationID: originator,
        ConversationID: conversationId,
        ResponseCode: '0',
        ResponseDescription: ACCEPTED_ASYNC,
      });
      return rolls.lost ? holdBack(state, res, ack) : ack;
    }),
  );
}
