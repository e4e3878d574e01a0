/**
 * Pure mapping between Malipo's camelCase types and Daraja's PascalCase payloads, with zod schemas
 * for what Daraja sends back. Field rules are checked here, before anything is sent (daraja.md §3.1, §9).
 * One file per API: oauth, stk, b2c, lookups (status, balance, QR), reversal, c2b; common: field rules.
 */
export * from './b2c';
export * from './c2b';
export {
  ACCOUNT_REFERENCE_MAX,
  type AsyncAck,
  AsyncAckSchema,
  SAFE_TEXT,
  TRANSACTION_DESC_MAX,
  toAsyncAck,
} from './common';
export * from './lookups';
export * from './oauth';
export * from './reversal';
export * from './stk';
