import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config';

describe('config', () => {
  it('has embedded-mode defaults', () => {
    const c = loadConfig({});
    assert.equal(c.PORT, 3000);
    assert.equal(c.MALIPO_MODE, 'development');
    assert.equal(c.TEMPORAL_ADDRESS, undefined);
    assert.equal(c.TEMPORAL_NAMESPACE, 'default');
    assert.equal(c.TEMPORAL_UI_PORT, 8233);
    assert.equal(c.DATABASE_URL, undefined);
    assert.equal(c.publicUrl, 'http://127.0.0.1:3000');
    assert.equal(c.MALIPO_SANDBOX, true);
  });

  it('lists every problem at once', () => {
    try {
      loadConfig({ PORT: 'abc', MALIPO_MODE: 'staging', LOG_LEVEL: 'loud' });
      assert.fail('expected ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 3);
      assert.match(err.message, /PORT/);
      assert.match(err.message, /MALIPO_MODE/);
      assert.match(err.message, /LOG_LEVEL/);
    }
  });

  it('requires a public URL and an encryption key in production, and never mounts the sandbox', () => {
    assert.throws(
      () => loadConfig({ MALIPO_MODE: 'production' }),
      (err: ConfigError) => {
        assert.equal(err.problems.length, 2);
        return true;
      },
    );
    const c = loadConfig({
      MALIPO_MODE: 'production',
      MALIPO_PUBLIC_URL: 'https://pay.example.co.ke/',
      MALIPO_ENCRYPTION_KEY: 'a'.repeat(64),
      MALIPO_SANDBOX: 'true',
    });
    assert.equal(c.publicUrl, 'https://pay.example.co.ke');
    assert.equal(c.MALIPO_SANDBOX, false);
  });

  it('keeps secrets out of logs and inspection', () => {
    const c = loadConfig({ DATABASE_URL: 'postgres://u:hunter2@db/x', TEMPORAL_API_KEY: 'tk-123' });
    assert.equal(c.DATABASE_URL?.reveal(), 'postgres://u:hunter2@db/x');
    assert.doesNotMatch(JSON.stringify(c), /hunter2|tk-123/);
    assert.doesNotMatch(inspect(c), /hunter2|tk-123/);
    assert.doesNotMatch(String(c.TEMPORAL_API_KEY), /tk-123/);
  });

  it('rejects a malformed encryption key and half a TLS pair', () => {
    assert.throws(() => loadConfig({ MALIPO_ENCRYPTION_KEY: 'short' }), /MALIPO_ENCRYPTION_KEY/);
    assert.throws(() => loadConfig({ TEMPORAL_TLS_CERT_PATH: '/x.pem' }), /TEMPORAL_TLS_KEY_PATH/);
  });
});
