/** Every workflow the worker runs, re-exported from its own file. */
export { b2cPayout, payoutResultSignal, payoutStateQuery, payoutStatusSignal } from './b2c-payout';
export { darajaLookup, lookupResultSignal } from './daraja-lookup';
export { idempotencySweep } from './idempotency-sweep';
export {
  awaitInitiationUpdate,
  paymentStateQuery,
  refreshUpdate,
  stkCallbackSignal,
  stkPush,
} from './stk-push';
export { deliverWebhook, webhookDeliveryState } from './webhook-delivery';
export { reversal, reversalResultSignal, reversalStateQuery, reversalStatusSignal } from './reversal';
