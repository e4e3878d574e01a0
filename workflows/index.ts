/** Every workflow the worker runs, re-exported from its own file. */
export {
  awaitInitiationUpdate,
  paymentStateQuery,
  refreshUpdate,
  stkCallbackSignal,
  stkPush,
} from './stk-push';
export { deliverWebhook, webhookDeliveryState } from './webhook-delivery';
