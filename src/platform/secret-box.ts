/**
 * AES-256-GCM sealing of secrets at rest (channel credentials, webhook signing secrets).
 *
 * A sealed value reads `v1.<kid>.<iv>.<tag>.<ciphertext>` (base64url parts): `v1` is the format,
 * `kid` names the key (first 8 hex characters of SHA-256 of the key), so the key can be rotated later:
 * open() picks the key by id, seal() always uses the primary one. Each value gets a random 12-byte IV.
 */
import crypto from 'node:crypto';

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

/** Parses a 32-byte key written as 64 hex characters or 44 base64 characters. */
export function parseEncryptionKey(text: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (key.length !== 32) throw new SecretBoxError('the encryption key must be 32 bytes');
  return key;
}

export function keyId(key: Buffer): string {
  return crypto.createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export class SecretBox {
  readonly #keys = new Map<string, Buffer>();
  readonly #primary: string;

  /** `primary` seals; `previous` keys can still open values sealed before a rotation. */
  constructor(primary: Buffer, previous: Buffer[] = []) {
    if (primary.length !== 32) throw new SecretBoxError('the encryption key must be 32 bytes');
    this.#primary = keyId(primary);
    this.#keys.set(this.#primary, Buffer.from(primary));
    for (const k of previous) this.#keys.set(keyId(k), Buffer.from(k));
  }

  get keyId(): string {
    return this.#primary;
  }

  /**
   * A secret derived from the primary key for another purpose (HMAC-SHA256 of `label`), so one
   * configured key can also mint, for example, callback URL tokens without a second setting.
   */
  derive(label: string): string {
    return crypto
      .createHmac('sha256', this.#keys.get(this.#primary)!)
      .update(`malipo:${label}`)
      .digest('hex');
  }

  seal(plain: string): string {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.#keys.get(this.#primary)!, iv);
    // the key id is authenticated too, so a value cannot be relabelled to another key
    cipher.setAAD(Buffer.from(`v1.${this.#primary}`));
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [
      'v1',
      this.#primary,
      iv.toString('base64url'),
      tag.toString('base64url'),
      ct.toString('base64url'),
    ].join('.');
  }

  open(sealed: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== 'v1') throw new SecretBoxError('not a sealed value');
    const [, kid, iv, tag, ct] = parts as [string, string, string, string, string];
    const key = this.#keys.get(kid);
    if (!key) throw new SecretBoxError(`no encryption key with id ${kid}`);
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(`v1.${kid}`));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new SecretBoxError('a sealed value failed authentication');
    }
  }
}

/** Shows only the last four characters: `••••c919`; short values are fully hidden. */
export function maskSecret(value: string): string {
  return value.length >= 12 ? `••••${value.slice(-4)}` : '••••';
}
