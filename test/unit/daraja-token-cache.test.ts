/**
 * The OAuth token cache is keyed by base URL, consumer key and a hash of the consumer secret: two
 * channels with the same base URL and consumer key but different secrets never share a token (the
 * second one would otherwise call Daraja with a token it never earned), the same secret shares one,
 * and no cache key holds the secret itself.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { DarajaClient, TokenCache, tokenCacheKey } from '../../src/daraja/client';

describe('Daraja token cache', () => {
  let server: Server;
  let base: string;
  /** One token per OAuth call; the token names the secret's turn so tests can tell them apart. */
  const issued: Array<{ basic: string; token: string }> = [];

  before(async () => {
    const app = express();
    app.get('/oauth/v1/generate', (req, res) => {
      const basic = String(req.headers.authorization ?? '');
      const token = `tok${issued.length + 1}`;
      issued.push({ basic, token });
      res.json({ access_token: token, expires_in: '3599' });
    });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const client = (cache: TokenCache, consumerSecret: string) =>
    new DarajaClient({
      baseUrl: base,
      consumerKey: 'shared-consumer-key',
      consumerSecret,
      tokenCache: cache,
    });

  it('gives channels with different secrets different tokens, and one token per secret', async () => {
    const cache = new TokenCache();
    issued.length = 0;
    const a = await client(cache, 'secret-of-channel-A').getToken();
    const b = await client(cache, 'secret-of-channel-B').getToken();
    assert.notEqual(a, b, 'a second secret gets its own token');
    assert.equal(issued.length, 2, 'each secret proved itself to OAuth');
    assert.notEqual(issued[0]!.basic, issued[1]!.basic);

    const a2 = await client(cache, 'secret-of-channel-A').getToken();
    const b2 = await client(cache, 'secret-of-channel-B').getToken();
    assert.equal(a2, a, 'the same secret shares its token');
    assert.equal(b2, b);
    assert.equal(issued.length, 2, 'no further OAuth call');
  });

  it('keeps no secret in a cache key, only its hash', async () => {
    const cache = new TokenCache();
    const secrets = ['secret-of-channel-A', 'secret-of-channel-B'];
    for (const s of secrets) await client(cache, s).getToken();
    const keys = cache.keys();
    assert.equal(keys.length, 2);
    for (const key of keys) {
      for (const s of secrets) assert.ok(!key.includes(s), `a cache key holds a secret: ${key}`);
      assert.ok(key.startsWith(`${base}\nshared-consumer-key\n`), key);
      assert.match(key.split('\n')[2]!, /^[0-9a-f]{64}$/);
    }
    assert.deepEqual(keys.sort(), secrets.map((s) => tokenCacheKey(base, 'shared-consumer-key', s)).sort());
  });
});
