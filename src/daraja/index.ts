/** The Daraja provider boundary: client (transport), transformers (pure mapping), callbacks (parsing), errors. */
export * from './callbacks';
export * from './client';
export * from './errors';
export * from './password';
export * from './security-credential';
export * from './transformers';
export { type Transport, TransportError, type TransportRequest, type TransportResponse } from './transport';
