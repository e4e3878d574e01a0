/** The simulated Daraja B2C payment request endpoints, v3 and the legacy v1. */
import type { Router } from 'express';
import type { SandboxState } from '../state';
import { deliverPayoutResult, redact } from '../b2c';
import { b2cResultDescription, QUEUE_TIMEOUT_RESULT } from '../scenarios';
import {
  Reply,
  envelope,
  invalid,
  isPhone,
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

/** B2C v3 and legacy v1 payment requests. */
export function b2cRoutes(r: Router, state: SandboxState): void {
  // ----- B2C (v3 and legacy v1) -----------------------------------------------------------------
  const b2c = (version: 1 | 3) => {
    const endpoint = `b2c_v${version}`;
    return route(state, endpoint, (req, res) => {
      const app = authApp(state, req);
      if (app instanceof Reply) return app;
      const b = readBody(state, req);
      if (b instanceof Reply) return b;
      const refuse = refuser(state, endpoint, b);
      if (version === 3 && !text(b.OriginatorConversationID, 1, 64))
        return refuse(invalid(state, 'OriginatorConversationID'));
      if (!text(b.InitiatorName, 1, 64)) return refuse(invalid(state, 'InitiatorName'));
      if (!text(b.SecurityCredential, 1, 2000)) return refuse(invalid(state, 'SecurityCredential'));
      if (!['BusinessPayment', 'SalaryPayment', 'PromotionPayment'].includes(String(b.CommandID))) {
        return refuse(invalid(state, 'CommandID'));
      }
      const amount = amountOf(b.Amount);
      if (amount === undefined) return refuse(invalid(state, 'Amount'));
      if (!isShortcode(b.PartyA)) return refuse(invalid(state, 'PartyA'));
      if (!isPhone(b.PartyB)) return refuse(invalid(state, 'PartyB'));
      if (!text(b.Remarks, 2, 100)) return refuse(invalid(state, 'Remarks'));
      if (!isUrl(b.QueueTimeOutURL)) return refuse(invalid(state, 'QueueTimeOutURL'));
      if (!isUrl(b.ResultURL)) return refuse(invalid(state, 'ResultURL'));
      const at = state.now();
      const originator = version === 3 ? String(b.OriginatorConversationID) : state.ids.merchantRequestId();
      const base = {
        apiVersion: version,
        originatorConversationId: originator,
        receivedAt: at.toISOString(),
        request: redact(b),
        shortcode: String(b.PartyA),
        phone: String(b.PartyB),
        amount,
        commandId: String(b.CommandID),
        resultUrl: String(b.ResultURL),
        queueTimeoutUrl: String(b.QueueTimeOutURL),
        responseDelayed: false,
        statusQueries: 0,
        callbacks: [],
      };
      const notProcessed = {
        conversationId: null,
        processed: false,
        paid: false,
        resultCode: null,
        resultDesc: null,
        receipt: null,
        transactionId: null,
        completedAt: null,
        delivery: 'none' as const,
      };
      if (state.acceptedPayout(originator)) {
        const reply = envelope(state, 500, '500.002.1001', 'Duplicate OriginatorConversationID');
        state.recordPayout({
          ...base,
          ...notProcessed,
          httpStatus: 500,
          errorCode: '500.002.1001',
          errorMessage: 'Duplicate OriginatorConversationID',
          source: 'duplicate',
          faults: [],
        });
        return reply;
      }
      const plan = state.planPayout(base.phone);
      if (plan.response === 'error500') {
        // Received, answered 500, never executed: nothing to find later.
        state.recordPayout({
          ...base,
          ...notProcessed,
          httpStatus: 500,
          errorCode: '500.003.1001',
          errorMessage: 'Internal Server Error',
          source: plan.source,
          faults: plan.faults,
        });
        return envelope(state, 500, '500.003.1001', 'Internal Server Error');
      }
      const conversationId = state.ids.conversationId(at);
      const ok = credentialOk(app, b.InitiatorName, b.SecurityCredential);
      const transactionId = state.ids.receipt(at);
      const queued = plan.result === 'queue_timeout';
      const code = queued ? QUEUE_TIMEOUT_RESULT.resultCode : ok ? plan.resultCode : 2001;
      const paid = !queued && code === 0;
      const entry = state.recordPayout({
        ...base,
        conversationId,
        httpStatus: 200,
        errorCode: null,
        errorMessage: null,
        responseDelayed: plan.response === 'slow',
        source: plan.source,
        faults: plan.faults,
        processed: !queued,
        paid,
        resultCode: code,
        resultDesc: queued ? QUEUE_TIMEOUT_RESULT.resultDesc : b2cResultDescription(code),
        receipt: paid ? transactionId : null,
        transactionId: queued ? null : transactionId,
        completedAt: queued ? null : at.toISOString(),
        delivery: queued
          ? 'queue_timeout_url'
          : plan.result === 'drop'
            ? 'dropped'
            : plan.result === 'duplicate'
              ? 'duplicate'
              : 'result_url',
      });
      state.recordAsync({
        kind: 'b2c',
        originatorConversationId: originator,
        conversationId,
        at: entry.receivedAt,
        request: entry.request,
        resultCode: code,
        receipt: entry.receipt,
        callbacks: entry.callbacks,
      });
      deliverPayoutResult(state, entry);
      state.log('sandbox: B2C accepted', { originator, paid, delivery: entry.delivery, faults: plan.faults });
      const ack = new Reply(200, {
        ConversationID: conversationId,
        OriginatorConversationID: originator,
        ResponseCode: '0',
        ResponseDescription: ACCEPTED_ASYNC,
      });
      // Processed (the Result may well arrive first), but the answer comes after the client gave up.
      return plan.response === 'slow' ? holdBack(state, res, ack) : ack;
    });
  };
  r.post('/mpesa/b2c/v3/paymentrequest', b2c(3));
  r.post('/mpesa/b2c/v1/paymentrequest', b2c(1));
}
