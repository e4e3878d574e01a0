/**
 * Which public certificate encrypts the initiator password (SecurityCredential) for each channel
 * environment (daraja.md §8.1): the simulator's own, Safaricom's sandbox one, or Safaricom's production
 * one. The wrong certificate makes Daraja answer ResultCode 2001 in the Result, not a request error.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChannelEnvironment } from '../platform/scopes';
import { securityCredential, SIMULATOR_CERT_PATH } from './security-credential';

export const CERTIFICATE_PATHS: Readonly<Record<ChannelEnvironment, string>> = {
  simulator: SIMULATOR_CERT_PATH,
  'safaricom-sandbox': path.join(__dirname, 'certs', 'safaricom-sandbox.pem'),
  production: path.join(__dirname, 'certs', 'safaricom-production.pem'),
};

/** The path of the certificate (PEM) for a channel environment. */
export function certificateFor(environment: ChannelEnvironment): string {
  const file = CERTIFICATE_PATHS[environment];
  if (!file) throw new Error(`no certificate is known for channel environment ${String(environment)}`);
  return file;
}

/** Thrown when the certificate file of an environment is not installed. */
export class MissingCertificateError extends Error {
  constructor(
    readonly environment: ChannelEnvironment,
    readonly file: string,
  ) {
    super(
      `the ${environment} certificate is not installed (expected ${path.basename(file)} in src/daraja/certs)`,
    );
    this.name = 'MissingCertificateError';
  }
}

/**
 * The SecurityCredential for an initiator password on a channel environment. Throws
 * MissingCertificateError when the environment's certificate file is absent.
 */
export function securityCredentialFor(environment: ChannelEnvironment, initiatorPassword: string): string {
  const file = certificateFor(environment);
  if (!fs.existsSync(file)) throw new MissingCertificateError(environment, file);
  return securityCredential(initiatorPassword, { path: file });
}
