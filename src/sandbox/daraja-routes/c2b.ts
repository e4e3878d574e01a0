/** The simulated Daraja C2B endpoints: URL registration and the sandbox-only simulate (a customer pays a paybill or till). */
import type { Router } from 'express';
import type { SandboxState } from '../state';
import { redact } from '../b2c';
import { createC2bPayment, validateAndConfirm } from '../c2b';
import {
  Reply,
  envelope,
  invalid,
  isPhone,
  isShortcode,
  isUrl,
  amountOf,
  readBody,
  authApp,
  route,
  ACCEPTED_ASYNC,
  refuser,
} from './common';

/** C2B register URL (v1, v2) and simulate (v1, v2). */
export function c2bRoutes(r: Router, state: SandboxState): void {
  // ----- C2B register URL -------------------------------------------------------------------
  const c2bRegister = route(state, 'c2b_register', (req) => {
    const app = authApp(state, req);
    if (app instanceof Reply) return app;
    const b = readBody(state, req);
    if (b instanceof Reply) return b;
    const refuse = refuser(state, 'c2b_register', b);
    if (!isShortcode(b.ShortCode)) return refuse(invalid(state, 'ShortCode'));
    if (b.ResponseType !== 'Completed' && b.ResponseType !== 'Cancelled')
      return refuse(invalid(state, 'ResponseType'));
    const forbidden = /m-?pesa|safaricom|exe|exec|cmd|sql|query/i;
    if (!isUrl(b.ConfirmationURL) || forbidden.test(String(b.ConfirmationURL)))
      return refuse(invalid(state, 'ConfirmationURL'));
    if (!isUrl(b.ValidationURL) || forbidden.test(String(b.ValidationURL)))
      return refuse(invalid(state, 'ValidationURL'));
    if (String(b.ShortCode) === '174379') {
      // 174379 is STK-only: Daraja answers with a raw Apigee 409 fault (daraja.md §9.12; exact text is our approximation).
      const faultstring = 'ShortCode 174379 is not allowed to register C2B URLs';
      state.recordRejectedAsync({
        at: state.now().toISOString(),
        endpoint: 'c2b_register',
        httpStatus: 409,
        errorCode: 'messaging.adaptors.http.flow.ErrorResponseCode',
        errorMessage: faultstring,
        request: redact(b),
      });
      return new Reply(409, {
        fault: { faultstring, detail: { errorcode: 'messaging.adaptors.http.flow.ErrorResponseCode' } },
      });
    }
    state.recordC2bRegistration({
      at: state.now().toISOString(),
      shortcode: String(b.ShortCode),
      responseType: String(b.ResponseType),
      confirmationUrl: String(b.ConfirmationURL),
      validationUrl: String(b.ValidationURL),
    });
    // sic: OriginatorCoversationID (daraja.md §1.4)
    return new Reply(200, {
      OriginatorCoversationID: state.ids.merchantRequestId(),
      ResponseCode: '0',
      ResponseDescription: 'Success',
    });
  });
  r.post('/mpesa/c2b/v2/registerurl', c2bRegister);
  r.post('/mpesa/c2b/v1/registerurl', c2bRegister);

  // ----- C2B simulate (sandbox only): a customer pays the paybill / till -----------------------
  const c2bSimulate = route(state, 'c2b_simulate', (req) => {
    const app = authApp(state, req);
    if (app instanceof Reply) return app;
    const b = readBody(state, req);
    if (b instanceof Reply) return b;
    const refuse = refuser(state, 'c2b_simulate', b);
    if (!isShortcode(b.ShortCode)) return refuse(invalid(state, 'ShortCode'));
    if (b.CommandID !== 'CustomerPayBillOnline' && b.CommandID !== 'CustomerBuyGoodsOnline')
      return refuse(invalid(state, 'CommandID'));
    const amount = amountOf(b.Amount);
    if (amount === undefined) return refuse(invalid(state, 'Amount'));
    if (!isPhone(b.Msisdn)) return refuse(invalid(state, 'Msisdn'));
    const ref = b.BillRefNumber;
    if (
      ref !== undefined &&
      ref !== null &&
      !(typeof ref === 'string' && ref.length <= 100) &&
      typeof ref !== 'number'
    )
      return refuse(invalid(state, 'BillRefNumber'));
    const shortcode = String(b.ShortCode);
    const registration = state.c2bRegistrationFor(shortcode);
    if (!registration) {
      // Simulator choice: what Daraja answers for a shortcode without URLs is not documented.
      return refuse(
        envelope(state, 500, '500.003.1001', `No C2B URLs are registered for ShortCode ${shortcode}`),
      );
    }
    const originator = state.ids.merchantRequestId();
    const entry = createC2bPayment(
      state,
      {
        via: 'simulate',
        originatorConversationId: originator,
        shortcode,
        amount,
        phone: String(b.Msisdn),
        billRefNumber: ref === undefined || ref === null ? '' : String(ref),
        transactionType: b.CommandID === 'CustomerBuyGoodsOnline' ? 'Buy Goods' : 'Pay Bill',
      },
      registration,
    );
    // The acknowledgement goes first; validation and confirmation follow.
    state.schedule(0, () => validateAndConfirm(state, entry));
    // sic: OriginatorCoversationID (daraja.md §1.4)
    return new Reply(200, {
      OriginatorCoversationID: originator,
      ResponseCode: '0',
      ResponseDescription: ACCEPTED_ASYNC,
    });
  });
  r.post('/mpesa/c2b/v1/simulate', c2bSimulate);
  r.post('/mpesa/c2b/v2/simulate', c2bSimulate);
}
