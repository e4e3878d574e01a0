/** C2B: customers paying a channel's paybill or till unprompted (Daraja Register URL v2 and its two hooks). */
export * from './hooks';
export * from './register';
export * from './repository';
export * from './rules';
export * from './urls';
