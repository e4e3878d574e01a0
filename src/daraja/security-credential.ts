/** B2C/Status/Balance SecurityCredential: base64 of the initiator password, RSA PKCS#1 v1.5 encrypted (daraja.md §8.1). */
import { constants, privateDecrypt, publicEncrypt, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** A certificate as PEM text, a path to a PEM or DER file (`.cer`), or the raw DER bytes. */
export type CertificateSource = string | Buffer | { path: string } | { pem: string };

function loadCertificate(source: CertificateSource): X509Certificate {
  if (Buffer.isBuffer(source)) return new X509Certificate(source);
  if (typeof source === 'object') {
    if ('pem' in source) return new X509Certificate(source.pem);
    return new X509Certificate(readFileSync(source.path));
  }
  if (source.includes('-----BEGIN')) return new X509Certificate(source);
  // Safaricom ships .cer files in PEM or DER; X509Certificate reads both from bytes.
  return new X509Certificate(readFileSync(source));
}

/**
 * Encrypts the initiator password for `SecurityCredential`. The output is randomised by the padding,
 * so it differs on every call (344 base64 characters for a 2048-bit key): compare by decrypting, never by string.
 */
export function securityCredential(initiatorPassword: string, certificate: CertificateSource): string {
  const cert = loadCertificate(certificate);
  return publicEncrypt(
    { key: cert.publicKey, padding: constants.RSA_PKCS1_PADDING },
    Buffer.from(initiatorPassword, 'utf8'),
  ).toString('base64');
}

/**
 * The inverse, for the simulator (and tests) holding the private key. Throws on a wrong key or garbage.
 * Node 20 refuses RSA_PKCS1_PADDING for private decryption (CVE-2023-46809, a timing oracle), so we
 * decrypt raw and strip the v1.5 padding ourselves: acceptable for a simulator whose key is public anyway.
 */
export function decryptSecurityCredential(credential: string, privateKeyPem: string): string {
  const block = privateDecrypt(
    { key: privateKeyPem, padding: constants.RSA_NO_PADDING },
    Buffer.from(credential, 'base64'),
  );
  // EM = 0x00 || 0x02 || PS (>= 8 non-zero bytes) || 0x00 || M
  const sep = block.indexOf(0, 2);
  if (block[0] !== 0 || block[1] !== 2 || sep < 10) throw new Error('SecurityCredential does not decrypt');
  return block.subarray(sep + 1).toString('utf8');
}

/** The simulator's own key pair (see certs/README.md): NOT Safaricom's. */
export const SIMULATOR_CERT_PATH = path.join(__dirname, 'certs', 'simulator-cert.pem');
export const SIMULATOR_KEY_PATH = path.join(__dirname, 'certs', 'simulator-key.pem');
