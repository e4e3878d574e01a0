import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  generateApiKey,
  generateWebhookSecret,
  hashApiKey,
  keyState,
  looksLikeApiKey,
} from '../../src/platform/keys';
import { canGrant, hasScope, keyEnvironmentFor } from '../../src/platform/scopes';

describe('API key material', () => {
  it('is mlp_test_/mlp_live_ + 43 base62 characters (≥ 32 random bytes)', () => {
    const k = generateApiKey('test');
    assert.match(k, /^mlp_test_[0-9A-Za-z]{43}$/);
    assert.match(generateApiKey('live'), /^mlp_live_[0-9A-Za-z]{43}$/);
    assert.ok(43 * Math.log2(62) >= 256);
    assert.ok(looksLikeApiKey(k));
    assert.ok(!looksLikeApiKey(`${k}x`));
    const many = new Set(Array.from({ length: 1000 }, () => generateApiKey('test')));
    assert.equal(many.size, 1000);
  });

  it('is stored as SHA-256 hex', () => {
    assert.equal(hashApiKey('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.match(hashApiKey('x'), /^[0-9a-f]{64}$/);
  });

  it('webhook secrets are whsec_ + base64 of 32 bytes', () => {
    const s = generateWebhookSecret();
    assert.match(s, /^whsec_/);
    assert.equal(Buffer.from(s.slice(6), 'base64').length, 32);
  });

  it('a key is revoked, expired or active', () => {
    const now = new Date('2025-01-01T00:00:00Z');
    assert.equal(keyState({ revoked_at: null, expires_at: null }, now), 'active');
    assert.equal(keyState({ revoked_at: new Date('2024-12-31'), expires_at: null }, now), 'revoked');
    assert.equal(keyState({ revoked_at: null, expires_at: new Date('2024-12-31') }, now), 'expired');
    assert.equal(keyState({ revoked_at: null, expires_at: new Date('2025-02-01') }, now), 'active');
  });
});

describe('scopes', () => {
  it('* grants everything; others grant themselves', () => {
    assert.ok(hasScope(['*'], 'payments:create'));
    assert.ok(hasScope(['payments:create'], 'payments:create'));
    assert.ok(!hasScope(['payments:read'], 'payments:create'));
  });

  it('a key grants only what it holds', () => {
    assert.ok(canGrant(['*'], ['*']));
    assert.ok(canGrant(['keys:manage', 'payments:read'], ['payments:read']));
    assert.ok(!canGrant(['keys:manage'], ['payments:read']));
    assert.ok(!canGrant(['keys:manage'], ['*']));
  });

  it('test keys use simulator and sandbox channels, live keys production', () => {
    assert.equal(keyEnvironmentFor('simulator'), 'test');
    assert.equal(keyEnvironmentFor('safaricom-sandbox'), 'test');
    assert.equal(keyEnvironmentFor('production'), 'live');
  });
});
