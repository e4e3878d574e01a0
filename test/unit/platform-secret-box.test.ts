import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { resolveEncryptionKey } from '../../src/platform/encryption-key';
import { keyId, maskSecret, parseEncryptionKey, SecretBox } from '../../src/platform/secret-box';

describe('SecretBox (AES-256-GCM)', () => {
  const key = crypto.randomBytes(32);
  const box = new SecretBox(key);

  it('seals with a fresh IV each time and opens again', () => {
    const a = box.seal('bfb279f9aa9bdbcf');
    const b = box.seal('bfb279f9aa9bdbcf');
    assert.notEqual(a, b);
    assert.match(a, /^v1\.[0-9a-f]{8}\.[\w-]{16}\.[\w-]{22}\.[\w-]+$/);
    assert.ok(!a.includes('bfb279f9'));
    assert.equal(box.open(a), 'bfb279f9aa9bdbcf');
    assert.equal(box.open(box.seal('')), '');
    assert.equal(box.open(box.seal('ünïcødé ✓')), 'ünïcødé ✓');
  });

  it('detects tampering and a wrong key', () => {
    const sealed = box.seal('secret');
    const parts = sealed.split('.');
    const ct = Buffer.from(parts[4]!, 'base64url');
    ct[0] = ct[0]! ^ 1;
    parts[4] = ct.toString('base64url');
    assert.throws(() => box.open(parts.join('.')), /failed authentication/);
    assert.throws(() => new SecretBox(crypto.randomBytes(32)).open(sealed), /no encryption key/);
    assert.throws(() => box.open('plain text'), /not a sealed value/);
  });

  it('names its key so a rotated box still opens old values', () => {
    const sealed = box.seal('old');
    const next = new SecretBox(crypto.randomBytes(32), [key]);
    assert.equal(next.open(sealed), 'old');
    assert.notEqual(next.keyId, box.keyId);
    assert.equal(next.seal('new').split('.')[1], next.keyId);
    assert.equal(box.keyId, keyId(key));
  });

  it('parses keys as hex or base64 and refuses other lengths', () => {
    assert.deepEqual(parseEncryptionKey(key.toString('hex')), key);
    assert.deepEqual(parseEncryptionKey(key.toString('base64')), key);
    assert.throws(() => parseEncryptionKey('abcd'));
  });

  it('masks all but the last four characters', () => {
    assert.equal(maskSecret('bfb279f9aa9bdbcf158e97dd71a4'), '••••71a4');
    assert.equal(maskSecret('short'), '••••');
  });
});

describe('the encryption key', () => {
  it('development mode generates one key into the data dir, once, with a warning', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'malipo-key-'));
    const warnings: unknown[] = [];
    const logger = { warn: (...a: unknown[]) => warnings.push(a) };
    const cfg = { MALIPO_ENCRYPTION_KEY: undefined, isProduction: false, dataDir };
    const first = resolveEncryptionKey(cfg, logger as never);
    const second = resolveEncryptionKey(cfg, logger as never);
    assert.deepEqual(first, second);
    assert.equal(warnings.length, 1);
    const file = path.join(dataDir, 'encryption.key');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('production mode requires MALIPO_ENCRYPTION_KEY and never generates one', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'malipo-key-'));
    assert.throws(
      () => resolveEncryptionKey({ MALIPO_ENCRYPTION_KEY: undefined, isProduction: true, dataDir }),
      /required in production/,
    );
    assert.equal(fs.existsSync(path.join(dataDir, 'encryption.key')), false);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});
