/**
 * The simulated Daraja endpoints: same paths, methods, shapes, codes and typos as Safaricom's
 * (daraja.md §2-§8). Every bad request gets Daraja's error envelope; nothing here throws to express.
 */
import { readFileSync } from 'node:fs';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import QRCode from 'qrcode';
import { parseNairobiTimestamp, stkPassword } from '../daraja/password';
import { decryptSecurityCredential, SIMULATOR_KEY_PATH } from '../daraja/security-credential';
import { deliverPayoutResult, INTERNAL_QUEUE_URL, redact } from './b2c';
import { createC2bPayment, validateAndConfirm } from './c2b';
import { decideReversal, deliverReversalResult } from './reversal';
import { b2cResultDescription, QUEUE_TIMEOUT_RESULT } from './scenarios';
import type { SandboxApp, SandboxState, StatusQueryLedgerEntry } from './state';

type Body = Record<string, unknown>;

/** A Daraja answer ready to send. */
class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

export const envelope = (
  state: SandboxState,
  status: number,
  errorCode: string,
  errorMessage: string,
  requestId?: string,
) => new Reply(status, { requestId: requestId ?? state.ids.requestId(), errorCode, errorMessage });

const invalid = (state: SandboxState, field: string) =>
  envelope(state, 400, '400.002.02', `Bad Request - Invalid ${field}`);

const isNumeric = (v: unknown, re: RegExp): boolean =>
  (typeof v === 'number' && Number.isInteger(v) && re.test(String(v))) ||
  (typeof v === 'string' && re.test(v));

const isPhone = (v: unknown) => isNumeric(v, /^254[17]\d{8}$/);
const isShortcode = (v: unknown) => isNumeric(v, /^\d{5,8}$/);

function isUrl(v: unknown): boolean {
  if (typeof v !== 'string' || /\s/.test(v)) return false;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Whole KES, 1..250,000, as a number or a numeric string (the docs' own sample sends "1"). */
function amountOf(v: unknown): number | undefined {
  const n =
    typeof v === 'number'
      ? v
      : typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim())
        ? Number(v)
        : Number.NaN;
  return Number.isInteger(n) && n >= 1 && n <= 250_000 ? n : undefined;
}

const text = (v: unknown, min: number, max: number) =>
  typeof v === 'string' && v.trim().length >= min && v.length <= max;

/** Reads the JSON body ourselves so a bad one gets Daraja's answer, not express's. */
function readBody(state: SandboxState, req: Request): Body | Reply {
  // Wrong or missing content type is a documented cause of "Invalid BusinessShortCode" (daraja.md §1.2).
  if (!req.is('application/json')) return invalid(state, 'BusinessShortCode');
  let body: unknown = req.body;
  if (Buffer.isBuffer(body)) body = body.toString('utf8');
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return invalid(state, 'BusinessShortCode');
    }
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    return invalid(state, 'BusinessShortCode');
  return body as Body;
}

/** Bearer token check (Apigee runs it before anything else). */
function authApp(state: SandboxState, req: Request): SandboxApp | Reply {
  const h = req.get('authorization') ?? '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (!m) return envelope(state, 404, '404.001.04', 'Invalid Authentication Header');
  const app = state.appForToken(m[1]!);
  if (!app) return envelope(state, 404, '404.001.03', 'Invalid Access Token');
  return app;
}

/** Shortcode exists and the Password matches base64(shortcode + passkey + Timestamp). */
function checkCredentials(state: SandboxState, app: SandboxApp, body: Body): Reply | undefined {
  if (String(body.BusinessShortCode) !== app.shortcode) {
    return envelope(state, 500, '500.001.1001', 'Merchant does not exist');
  }
  const ts = String(body.Timestamp);
  if (stkPassword(app.shortcode, app.passkey, ts) !== body.Password) {
    return envelope(state, 500, '500.001.1001', '[MerchantValidate] - Wrong credentials');
  }
  return undefined;
}

function checkTimestamp(state: SandboxState, v: unknown): boolean {
  if (typeof v !== 'string' && typeof v !== 'number') return false;
  const at = parseNairobiTimestamp(v);
  if (!at) return false;
  if (state.options.strictTimestamp && Math.abs(at.getTime() - state.now().getTime()) > 3600_000)
    return false;
  return true;
}

type Handler = (req: Request, res: Response) => Reply | Promise<Reply | undefined> | undefined;

/** Runs a handler; any throw becomes Daraja's 500 envelope. `undefined` means the handler answered itself. */
function route(state: SandboxState, endpoint: string, fn: Handler) {
  return async (req: Request, res: Response) => {
    state.countRequest(endpoint);
    let reply: Reply | undefined;
    try {
      reply = await fn(req, res);
    } catch (err) {
      state.log('sandbox: handler failed', { endpoint, error: String(err) });
      reply = envelope(state, 500, '500.003.1001', 'Internal Server Error');
    }
    if (reply && !res.headersSent) res.status(reply.status).json(reply.body);
  };
}

const ACCEPTED_ASYNC = 'Accept the service request successfully.';

/** Transaction Status ReasonType per B2C CommandID (the "… via API" values seen in real results). */
const B2C_REASON_TYPES: Readonly<Record<string, string>> = {
  BusinessPayment: 'Business Payment to Customer via API',
  SalaryPayment: 'Salary Payment via API',
  PromotionPayment: 'Promotion Payment via API',
};

/** `YYYYMMDDHHmmss` in Nairobi time, as a number (InitiatedTime, FinalisedTime, BOCompletedTime). */
const eatNumber = (at: Date): number =>
  Number(new Date(at.getTime() + 3 * 3600_000).toISOString().slice(0, 19).replace(/[-T:]/g, ''));

/** Records an async / C2B request refused with `reply` in the ledger, then returns the reply. */
function refuser(state: SandboxState, endpoint: string, body: Body) {
  return (reply: Reply): Reply => {
    const r = reply.body as { errorCode: string; errorMessage: string };
    state.recordRejectedAsync({
      at: state.now().toISOString(),
      endpoint,
      httpStatus: reply.status,
      errorCode: r.errorCode,
      errorMessage: r.errorMessage,
      request: redact(body),
    });
    return reply;
  };
}

/**
 * Holds an answer back for `slowResponseMs` (past the client's timeout): the request was accepted and
 * processed, but the client sees an ambiguous initiation. Close drops the connection instead.
 */
function holdBack(state: SandboxState, res: Response, reply: Reply): undefined {
  const destroy = () => res.destroy();
  state.onClose.add(destroy);
  state.schedule(state.options.slowResponseMs, () => {
    state.onClose.delete(destroy);
    if (!res.writableEnded && !res.destroyed) res.status(reply.status).json(reply.body);
  });
  return undefined;
}

let simulatorKey: string | undefined;
function simulatorPrivateKey(): string {
  simulatorKey ??= readFileSync(SIMULATOR_KEY_PATH, 'utf8');
  return simulatorKey;
}

/** Does the SecurityCredential decrypt (with the simulator's key) to this app's initiator password? */
function credentialOk(app: SandboxApp, initiator: unknown, credential: unknown): boolean {
  if (typeof credential !== 'string' || initiator !== app.initiatorName) return false;
  try {
    return decryptSecurityCredential(credential, simulatorPrivateKey()) === app.initiatorPassword;
  } catch {
    return false;
  }
}

export function createDarajaRouter(state: SandboxState): Router {
  const r = express.Router();
  // Raw text so that malformed JSON still gets a Daraja envelope.
  r.use(express.text({ type: () => true, limit: '64kb' }));

  // ----- OAuth ---------------------------------------------------------------------------
  r.get(
    '/oauth/v1/generate',
    route(state, 'oauth', (req) => {
      if (req.query.grant_type !== 'client_credentials') {
        return envelope(state, 400, '400.008.02', 'Invalid grant type passed');
      }
      const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(req.get('authorization') ?? '');
      if (!m) return envelope(state, 400, '400.008.01', 'Invalid Authentication passed');
      const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      const app = i < 0 ? undefined : state.findAppByCredentials(decoded.slice(0, i), decoded.slice(i + 1));
      if (!app) return envelope(state, 400, '400.008.01', 'Invalid Authentication passed');
      const t = state.issueToken(app);
      // Daraja usually sends expires_in as the string "3599" (daraja.md §2).
      return new Reply(200, {
        access_token: t.token,
        expires_in: state.options.expiresInAsNumber ? t.expiresIn : String(t.expiresIn),
      });
    }),
  );

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

  // ----- anything else ------------------------------------------------------------------------
  const KNOWN = new Set([
    '/oauth/v1/generate',
    '/mpesa/stkpush/v1/processrequest',
    '/mpesa/stkpushquery/v1/query',
    '/mpesa/b2c/v3/paymentrequest',
    '/mpesa/b2c/v1/paymentrequest',
    '/mpesa/transactionstatus/v1/query',
    '/mpesa/accountbalance/v1/query',
    '/mpesa/reversal/v1/request',
    '/mpesa/c2b/v2/registerurl',
    '/mpesa/c2b/v1/registerurl',
    '/mpesa/c2b/v1/simulate',
    '/mpesa/c2b/v2/simulate',
    '/mpesa/qrcode/v1/generate',
  ]);
  r.use((req: Request, res: Response) => {
    const reply = KNOWN.has(req.path)
      ? envelope(state, 405, '405.001', 'Method Not Allowed')
      : envelope(state, 404, '404.001.01', 'Resource not found');
    res.status(reply.status).json(reply.body);
  });
  r.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    state.log('sandbox: request failed', { error: String(err) });
    const status = (err as { status?: number }).status;
    const reply =
      status === 413 || status === 400
        ? envelope(state, 400, '400.002.02', 'Bad Request - Invalid BusinessShortCode')
        : envelope(state, 500, '500.003.1001', 'Internal Server Error');
    if (!res.headersSent) res.status(reply.status).json(reply.body);
  });
  return r;
}
