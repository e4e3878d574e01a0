/**
 * Where the secret box's key comes from: MALIPO_ENCRYPTION_KEY, or in development mode a key generated once
 * into `$MALIPO_DATA_DIR/encryption.key` (mode 0600) with a warning. Production mode requires the variable
 * (loadConfig already refuses to start without it).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { parseEncryptionKey, SecretBox } from './secret-box';

export const DEV_KEY_FILE = 'encryption.key';

export function resolveEncryptionKey(
  config: Pick<Config, 'MALIPO_ENCRYPTION_KEY' | 'isProduction' | 'dataDir'>,
  logger?: Pick<Logger, 'warn'>,
): Buffer {
  if (config.MALIPO_ENCRYPTION_KEY) return parseEncryptionKey(config.MALIPO_ENCRYPTION_KEY.reveal());
  if (config.isProduction) throw new Error('MALIPO_ENCRYPTION_KEY is required in production mode');
  const file = path.join(config.dataDir, DEV_KEY_FILE);
  if (fs.existsSync(file)) return parseEncryptionKey(fs.readFileSync(file, 'utf8'));
  fs.mkdirSync(config.dataDir, { recursive: true });
  const key = crypto.randomBytes(32);
  // `wx`: two processes booting at once cannot both write a key
  try {
    fs.writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      return parseEncryptionKey(fs.readFileSync(file, 'utf8'));
    throw err;
  }
  logger?.warn(
    { file },
    'MALIPO_ENCRYPTION_KEY is not set: generated a development key in the data dir. Channel secrets are ' +
      'encrypted with it; set MALIPO_ENCRYPTION_KEY (32 bytes, hex or base64) in production.',
  );
  return key;
}

export function secretBoxFor(
  config: Pick<Config, 'MALIPO_ENCRYPTION_KEY' | 'isProduction' | 'dataDir'>,
  logger?: Pick<Logger, 'warn'>,
): SecretBox {
  return new SecretBox(resolveEncryptionKey(config, logger));
}
