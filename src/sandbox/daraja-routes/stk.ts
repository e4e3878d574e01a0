/** The simulated Daraja STK Push and STK Query endpoints (daraja.md §3-§4). */
import type { Router } from 'express';
import type { SandboxState } from '../state';
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
  checkCredentials,
  checkTimestamp,
  route,
  holdBack,
} from './common';

/** STK Push and STK Query. */
export function stkRoutes(r: Router, state: SandboxState): void {
  // ----- STK push ----------------------------------------------------------------------------
  r.post(
    '/mpesa/stkpush/v1/processrequest',
    route(state, 'stkpush', (req, res) => {
      const app = authApp(state, req);
      if (app instanceof Reply) return app;
      const b = readBody(state, req);
      if (b instanceof Reply) return b;
      const reject = (reply: Reply): Reply => {
        const body = reply.body as { errorCode: string; errorMessage: string };
        state.recordRejectedPush({
          at: state.now().toISOString(),
          phone: isPhone(b.PhoneNumber) ? String(b.PhoneNumber) : null,
          accountReference: typeof b.AccountReference === 'string' ? b.AccountReference : null,
          httpStatus: reply.status,
          errorCode: body.errorCode,
          errorMessage: body.errorMessage,
        });
        return reply;
      };
      if (!isShortcode(b.BusinessShortCode)) return reject(invalid(state, 'BusinessShortCode'));
      if (typeof b.Password !== 'string' || b.Password === '') return reject(invalid(state, 'Password'));
      if (!checkTimestamp(state, b.Timestamp)) return reject(invalid(state, 'Timestamp'));
      if (b.TransactionType !== 'CustomerPayBillOnline' && b.TransactionType !== 'CustomerBuyGoodsOnline') {
        return reject(invalid(state, 'TransactionType'));
      }
      const amount = amountOf(b.Amount);
      if (amount === undefined) return reject(invalid(state, 'Amount'));
      if (!isPhone(b.PartyA)) return reject(invalid(state, 'PartyA'));
      if (!isShortcode(b.PartyB)) return reject(invalid(state, 'PartyB'));
      if (!isPhone(b.PhoneNumber)) return reject(invalid(state, 'PhoneNumber'));
      if (!isUrl(b.CallBackURL)) return reject(invalid(state, 'CallBackURL'));
      // Daraja's own limit is 12; in 2018 a longer one was "accepted but no prompt". We refuse it loudly.
      if (!text(b.AccountReference, 1, 12)) return reject(invalid(state, 'AccountReference'));
      // Daraja reports TransactionDesc as "Remarks" (daraja.md §3.1); > 13 is refused too (doc limit).
      if (!text(b.TransactionDesc, 1, 13)) return reject(invalid(state, 'Remarks'));
      const bad = checkCredentials(state, app, b);
      if (bad) return reject(bad);
      const phone = String(b.PhoneNumber);
      if (state.openPromptFor(phone)) {
        return reject(
          envelope(
            state,
            500,
            '500.001.1001',
            'Unable to lock subscriber, a transaction is already in process for the current subscriber',
          ),
        );
      }
      const plan = state.planPush(phone);
      if (plan.push === 'error500')
        return reject(envelope(state, 500, '500.003.1001', 'Internal Server Error'));

      const type = String(b.TransactionType);
      const partyB = String(b.PartyB);
      // Till vs paybill mix-ups are accepted, then fail with 2028 (daraja.md §3.1, §9.9).
      const mixedUp =
        type === 'CustomerPayBillOnline'
          ? partyB !== app.shortcode
          : !(app.tillNumbers ?? []).includes(partyB);
      const outcome = mixedUp ? { resultCode: 2028 } : plan.outcome;
      const txn = state.createPush({
        app,
        shortcode: app.shortcode,
        transactionType: type,
        partyB,
        phone,
        amount,
        accountReference: String(b.AccountReference),
        transactionDesc: String(b.TransactionDesc),
        callbackUrl: String(b.CallBackURL),
        callbackMode: plan.callback,
        responseDelayed: plan.push === 'slow',
        source: mixedUp ? 'product_assignment' : plan.source,
      });
      state.scheduleCustomer(txn, outcome);
      state.log('sandbox: push accepted', {
        checkoutRequestId: txn.checkoutRequestId,
        amount,
        source: txn.source,
      });
      const ack = new Reply(200, {
        MerchantRequestID: txn.merchantRequestId,
        CheckoutRequestID: txn.checkoutRequestId,
        ResponseCode: '0',
        ResponseDescription: 'Success. Request accepted for processing',
        CustomerMessage: 'Success. Request accepted for processing',
      });
      if (plan.push !== 'slow') return ack;
      // Accepted, but the answer comes after the client has given up: the ambiguous case.
      return holdBack(state, res, ack);
    }),
  );

  // ----- STK query ----------------------------------------------------------------------------
  r.post(
    '/mpesa/stkpushquery/v1/query',
    route(state, 'stkpushquery', (req) => {
      const app = authApp(state, req);
      if (app instanceof Reply) return app;
      const b = readBody(state, req);
      if (b instanceof Reply) return b;
      if (!isShortcode(b.BusinessShortCode)) return invalid(state, 'BusinessShortCode');
      if (typeof b.Password !== 'string' || b.Password === '') return invalid(state, 'Password');
      if (!checkTimestamp(state, b.Timestamp)) return invalid(state, 'Timestamp');
      if (typeof b.CheckoutRequestID !== 'string' || b.CheckoutRequestID === '') {
        return invalid(state, 'CheckoutRequestID');
      }
      const bad = checkCredentials(state, app, b);
      if (bad) return bad;
      const txn = state.txn(b.CheckoutRequestID);
      if (!txn || txn.shortcode !== app.shortcode) return invalid(state, 'CheckoutRequestID');
      txn.queries++;
      if (state.roll(state.faults.queryError)) {
        // Half the time the documented envelope, half a raw Apigee spike-arrest fault (daraja.md §1.3, §3.4).
        if (state.random() < 0.5) {
          return envelope(state, 500, '500.003.02', 'System is busy. Please try again in few minutes.');
        }
        return new Reply(429, {
          fault: {
            faultstring:
              'Spike arrest violation. Allowed rate : MessageRate{messagesPerPeriod=5, periodInMicroseconds=1000000, maxBurstMessageCount=1.0}',
            detail: { errorcode: 'policies.ratelimit.SpikeArrestViolation' },
          },
        });
      }
      if (txn.status === 'open') {
        // Daraja's "still waiting" answer is an error envelope whose requestId is the CheckoutRequestID.
        return envelope(
          state,
          500,
          '500.001.1001',
          'The transaction is being processed',
          txn.checkoutRequestId,
        );
      }
      return new Reply(200, {
        ResponseCode: '0',
        ResponseDescription: 'The service request has been accepted successsfully', // sic: three s's
        MerchantRequestID: txn.merchantRequestId,
        CheckoutRequestID: txn.checkoutRequestId,
        ResultCode: String(txn.resultCode),
        ResultDesc: txn.resultDesc,
      });
    }),
  );
}
