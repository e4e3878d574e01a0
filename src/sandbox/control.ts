/** The control API under `/__sandbox/`: script outcomes, set fault rates, reset, and read the ground-truth ledger. */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { normalizePhone } from '../domain/phone';
import { createC2bPayment, validateAndConfirm } from './c2b';
import { B2C_SCENARIOS, SCENARIOS } from './scenarios';
import type { SandboxState } from './state';

const callbackMode = z.enum(['normal', 'drop', 'duplicate', 'late']);
const resultCode = z.union([z.number().int(), z.string().min(1).max(20)]);

const OutcomeSchema = z
  .object({
    phone: z.union([z.string(), z.number()]).optional(),
    checkoutRequestId: z.string().optional(),
    resultCode,
    callback: callbackMode.optional(),
  })
  .refine((v) => (v.phone === undefined) !== (v.checkoutRequestId === undefined), {
    message: 'give exactly one of phone or checkoutRequestId',
  });

const rate = z.number().min(0).max(1);
const FaultsSchema = z
  .object({
    pushError: rate,
    ambiguousPush: rate,
    dropCallback: rate,
    duplicateCallback: rate,
    lateCallback: rate,
    queryError: rate,
    b2cRequestError500: rate,
    b2cResultDrop: rate,
    b2cResultDuplicate: rate,
    b2cQueueTimeout: rate,
    statusQueryError: rate,
    reversalRequestError500: rate,
    reversalLostResponse: rate,
    reversalResultDrop: rate,
    reversalResultLate: rate,
    reversalResultDuplicate: rate,
  })
  .partial()
  .strict();

const ActionSchema = z.object({ pin: z.string().optional() });

const C2bPaymentSchema = z
  .object({
    shortcode: z.union([z.string().regex(/^\d{5,8}$/), z.number().int().min(10_000).max(99_999_999)]),
    amount: z.number().int().min(1).max(250_000),
    phone: z.union([z.string(), z.number()]),
    billRefNumber: z.string().max(100).optional(),
    transactionType: z.enum(['Pay Bill', 'Buy Goods']).optional(),
  })
  .strict();

/** The customer actions the handset page and the control API share. Returns an error text or undefined. */
export function customerAction(
  state: SandboxState,
  checkoutRequestId: string,
  action: 'pay' | 'cancel' | 'ignore',
  pin?: string,
): string | undefined {
  const txn = state.txn(checkoutRequestId);
  if (!txn) return 'no such prompt';
  if (txn.status !== 'open') return 'this prompt is no longer open';
  switch (action) {
    case 'pay':
      if (pin === undefined || !/^\d{4}$/.test(pin)) return 'enter a 4-digit PIN';
      // Any 4-digit PIN is right except 0000, which plays a wrong PIN (2001).
      if (pin === '0000') state.complete(checkoutRequestId, 2001, 'wrong_pin', 'handset');
      else state.complete(checkoutRequestId, 0, 'paid', 'handset');
      return undefined;
    case 'cancel':
      state.complete(checkoutRequestId, 1032, 'cancelled', 'handset');
      return undefined;
    case 'ignore':
      // The customer walks away: Daraja reports "DS timeout user cannot be reached" (1037).
      state.complete(checkoutRequestId, 1037, 'ignored', 'handset');
      return undefined;
  }
}

export function createControlRouter(state: SandboxState): Router {
  const r = express.Router();
  r.use(express.json({ limit: '64kb', type: () => true }));
  const fail = (res: Response, status: number, message: string, issues?: unknown) =>
    res.status(status).json({ error: message, ...(issues ? { issues } : {}) });

  r.get('/', (_req, res) => {
    res.json({
      endpoints: {
        'GET /__sandbox/ledger': 'the ground-truth ledger',
        'GET /__sandbox/ledger/:checkoutRequestId': 'one push',
        'GET /__sandbox/ledger/payouts/:originatorConversationId':
          'one B2C payout: { originatorConversationId, paid, payout, requests }',
        'GET /__sandbox/ledger/c2b/:transId': 'one C2B payment',
        'GET /__sandbox/ledger/reversals/:transactionId':
          'the reversals of one transaction and the amount reversed',
        'POST /__sandbox/c2b/payments':
          "{ shortcode, amount, phone, billRefNumber?, transactionType?: 'Pay Bill' | 'Buy Goods' }: a customer pays",
        'POST /__sandbox/outcomes': '{ phone | checkoutRequestId, resultCode, callback? }',
        'DELETE /__sandbox/outcomes/:phone': 'forget a phone outcome',
        'GET|POST /__sandbox/faults':
          '{ pushError, ambiguousPush, dropCallback, duplicateCallback, lateCallback, queryError, b2cRequestError500, b2cResultDrop, b2cResultDuplicate, b2cQueueTimeout, statusQueryError }',
        'POST /__sandbox/prompts/:checkoutRequestId/(pay|cancel|ignore)': '{ pin } for pay',
        'POST /__sandbox/tokens/expire': 'invalidate every access token',
        'POST /__sandbox/reset': 'forget everything',
        'GET /__sandbox/scenarios': 'the scenario phones (STK and B2C)',
      },
      seed: state.seed,
    });
  });

  r.get('/scenarios', (_req, res) => {
    res.json({ scenarios: SCENARIOS, b2cScenarios: B2C_SCENARIOS });
  });

  r.get('/ledger', (_req, res) => {
    res.json(state.ledger());
  });

  r.get('/ledger/payouts/:originatorConversationId', (req, res) => {
    const id = req.params.originatorConversationId;
    const requests = state.payoutRequests(id);
    if (requests.length === 0) return fail(res, 404, 'no B2C request with this OriginatorConversationID');
    const payout = requests.find((p) => p.httpStatus === 200) ?? null;
    res.json({ originatorConversationId: id, paid: payout?.paid ?? false, payout, requests });
  });

  r.get('/ledger/reversals/:transactionId', (req, res) => {
    const list = state.reversalsOf(req.params.transactionId);
    res.json({
      originalTransactionId: req.params.transactionId,
      reversedAmount: state.reversedAmount(req.params.transactionId),
      reversals: list,
    });
  });

  r.get('/ledger/c2b/:transId', (req, res) => {
    const p = state.c2bPaymentByTransId(req.params.transId);
    if (!p) return fail(res, 404, 'no C2B payment with this TransID');
    res.json(structuredClone(p));
  });

  r.get('/ledger/:checkoutRequestId', (req, res) => {
    const e = state.entry(req.params.checkoutRequestId);
    if (!e) return fail(res, 404, 'no such CheckoutRequestID');
    res.json(e);
  });

  r.post('/outcomes', (req, res) => {
    const p = OutcomeSchema.safeParse(req.body);
    if (!p.success) return fail(res, 400, 'invalid outcome', p.error.issues);
    const { phone, checkoutRequestId, resultCode: code, callback } = p.data;
    if (phone !== undefined) {
      const n = normalizePhone(phone);
      if (!n.ok) return fail(res, 400, n.reason);
      state.setPhoneOutcome(n.msisdn, { resultCode: code, callback });
      return res.json({
        phone: n.msisdn,
        resultCode: code,
        callback: callback ?? 'normal',
        appliesTo: 'future pushes',
      });
    }
    const id = checkoutRequestId!;
    const txn = state.txn(id);
    if (!txn) return fail(res, 404, 'no such CheckoutRequestID');
    if (txn.status !== 'open') return fail(res, 409, 'this push is already final');
    state.complete(id, code, undefined, 'control', callback);
    res.json(state.entry(id));
  });

  r.delete('/outcomes/:phone', (req, res) => {
    const n = normalizePhone(req.params.phone);
    if (!n.ok) return fail(res, 400, n.reason);
    state.clearPhoneOutcome(n.msisdn);
    res.status(204).end();
  });

  r.get('/faults', (_req, res) => {
    res.json(state.faults);
  });

  r.post('/faults', (req, res) => {
    const p = FaultsSchema.safeParse(req.body);
    if (!p.success) return fail(res, 400, 'invalid fault rates (each 0..1)', p.error.issues);
    res.json(state.setFaults(p.data));
  });

  r.post('/prompts/:checkoutRequestId/:action', (req, res) => {
    const action = req.params.action;
    if (action !== 'pay' && action !== 'cancel' && action !== 'ignore')
      return fail(res, 404, 'unknown action');
    const body = ActionSchema.safeParse(req.body ?? {});
    const err = customerAction(
      state,
      req.params.checkoutRequestId,
      action,
      body.success ? body.data.pin : undefined,
    );
    if (err) return fail(res, err === 'no such prompt' ? 404 : 409, err);
    res.json(state.entry(req.params.checkoutRequestId));
  });

  // A customer pays a paybill / till unprompted. Answers once validation has decided; the
  // confirmation (and its retries) continue in the background.
  r.post('/c2b/payments', async (req, res) => {
    const p = C2bPaymentSchema.safeParse(req.body);
    if (!p.success) return fail(res, 400, 'invalid C2B payment', p.error.issues);
    const n = normalizePhone(p.data.phone);
    if (!n.ok) return fail(res, 400, n.reason);
    const shortcode = String(p.data.shortcode);
    const registration = state.c2bRegistrationFor(shortcode);
    if (!registration) {
      return fail(
        res,
        409,
        `no C2B URLs registered for shortcode ${shortcode}: POST /mpesa/c2b/v2/registerurl first`,
      );
    }
    const entry = createC2bPayment(
      state,
      {
        via: 'control',
        originatorConversationId: null,
        shortcode,
        amount: p.data.amount,
        phone: n.msisdn,
        billRefNumber: p.data.billRefNumber ?? '',
        transactionType: p.data.transactionType ?? 'Pay Bill',
      },
      registration,
    );
    await validateAndConfirm(state, entry);
    res.json({
      transId: entry.transId,
      transTime: entry.transTime,
      accepted: entry.accepted,
      validationReply: entry.validation.reply,
      validationOutcome: entry.validation.outcome,
      decidedBy: entry.decidedBy,
    });
  });

  r.post('/tokens/expire', (_req, res) => {
    state.expireTokens();
    res.status(204).end();
  });

  r.post('/reset', (_req, res) => {
    state.reset();
    res.status(204).end();
  });

  r.use((_req: Request, res: Response) => {
    fail(res, 404, 'unknown control endpoint; GET /__sandbox/ lists them');
  });
  r.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number }).status;
    if (!res.headersSent)
      fail(
        res,
        status && status < 500 ? status : 500,
        status && status < 500 ? 'bad request' : 'internal error',
      );
  });
  return r;
}
