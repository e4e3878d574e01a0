/** Webhooks: signing and verification, the SSRF guard, one-attempt delivery, storage and dispatch. */
export { DELIVERY_TIMEOUT_MS, type DeliveryRequest, type DeliveryResult, deliverOnce } from './deliver';
export {
  DELIVER_WEBHOOK_WORKFLOW,
  type DeliveryStarter,
  dispatchEvent,
  redeliverEvent,
  temporalDeliveryStarter,
} from './dispatch';
export * from './repository';
export * from './schedule';
export { type DeliveryHeaders, generateWebhookSecret, type SignDeliveryInput, signDelivery } from './signing';
export * from './ssrf';
export {
  type VerifyWebhookOptions,
  type WebhookEvent,
  type WebhookHeaders,
  WebhookVerificationError,
  verifyWebhook,
} from './verify';
