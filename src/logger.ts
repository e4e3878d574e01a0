/** The pino logger: secrets are redacted by path and phone numbers are masked wherever they appear. */
import pino from 'pino';

const PHONE = /(\+?254|\b0|\b)([17])\d{4}(\d{4})\b/g;

/** Masks every Kenyan mobile number inside a string: 254712345678 → 2547****5678. */
export function maskPhonesInText(text: string): string {
  return text.replace(
    PHONE,
    (_m, prefix: string, first: string, last4: string) => `${prefix}${first}****${last4}`,
  );
}

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  '*.password',
  '*.passkey',
  '*.consumerSecret',
  '*.consumerKey',
  '*.initiatorPassword',
  '*.secret',
  '*.apiKey',
  '*.key',
  '*.token',
];

export type Logger = pino.Logger;

/**
 * Every line is masked as it is written, after serialisation, so no field and no message can
 * carry a full phone number out, whatever shape the logged object has.
 */
export function createLogger(
  level: string,
  opts: { name?: string; write?: (line: string) => void } = {},
): Logger {
  const write = opts.write ?? ((line: string) => process.stdout.write(line));
  return pino(
    {
      level,
      ...(opts.name ? { name: opts.name } : {}),
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    { write: (line: string) => write(maskPhonesInText(line)) },
  );
}
