/**
 * The Daraja client with the outbound guard: an address the guard refuses is our own VALIDATION_ERROR
 * (nothing sent, not Daraja's answer, never retried as is); a name that does not resolve is
 * `not_sent` (retrying is safe); an approved name is reached at the address the guard approved.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { DarajaClient } from '../../src/daraja/client';
import { DarajaError } from '../../src/daraja/errors';
import { MalipoError } from '../../src/domain/errors';
import type { Resolver } from '../../src/webhooks/ssrf';

describe('Daraja client with the outbound guard', () => {
  let server: Server;
  let port: number;
  const seen: string[] = [];
  const resolve: Resolver = async (host) => {
    if (host === 'daraja.local.test') return [{ address: '127.0.0.1', family: 4 }];
    if (host === 'daraja.private.test') return [{ address: '10.0.0.7', family: 4 }];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  };

  before(async () => {
    const app = express();
    app.get('/oauth/v1/generate', (req, res) => {
      seen.push(String(req.headers.host));
      res.json({ access_token: 'tok', expires_in: '3599' });
    });
    server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const client = (host: string) =>
    new DarajaClient({
      baseUrl: `http://${host}:${port}`,
      consumerKey: 'k',
      consumerSecret: 's',
      guard: { mode: 'development', resolve },
    });

  it('reaches an approved name at the approved address', async () => {
    assert.equal(await client('daraja.local.test').getToken(), 'tok');
    assert.deepEqual(seen, [`daraja.local.test:${port}`]);
  });

  it('refuses a name that resolves to a private address with our own VALIDATION_ERROR', async () => {
    await assert.rejects(client('daraja.private.test').getToken(), (err: unknown) => {
      assert.ok(err instanceof MalipoError && !(err instanceof DarajaError), String(err));
      assert.equal(err.code, 'VALIDATION_ERROR');
      assert.equal(err.retryable, false);
      assert.match(
        err.message,
        /^The channel base URL is not allowed: daraja\.private\.test resolves to a private address/,
      );
      return true;
    });
  });

  it('makes a name that does not resolve a not_sent DarajaError without the resolver’s words', async () => {
    await assert.rejects(client('daraja.nowhere.test').getToken(), (err: unknown) => {
      assert.ok(err instanceof DarajaError, String(err));
      assert.equal(err.kind, 'not_sent');
      assert.equal(err.retryable, true);
      assert.ok(!err.message.includes('ENOTFOUND'), err.message);
      return true;
    });
  });
});
