/**
 * POST /v1/channels/:id/test against the Daraja simulator: good credentials get a token, a wrong secret
 * gets Daraja's own refusal, an unreachable or garbage-answering host says so without its text, and the
 * route keeps the channels' tenancy, environment and scope rules.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_APP, type SandboxServer } from '../../src/sandbox';
import {
  expectEnvelope,
  expectSecured,
  startTestApp,
  type TestApp,
  type TestMerchant,
} from '../helpers/http';
import { startSim } from '../helpers/sandbox';

describe('POST /v1/channels/:id/test', () => {
  let t: TestApp;
  let sim: SandboxServer;
  let m: TestMerchant;
  let other: TestMerchant;
  let garbage: http.Server;
  let garbageUrl: string;

  before(async () => {
    t = await startTestApp();
    sim = await startSim();
    m = await t.merchant('Shop');
    other = await t.merchant('Other');
    // a host that answers every request with an HTML error page naming internals
    garbage = http.createServer((_req, res) => {
      res.statusCode = 502;
      res.setHeader('content-type', 'text/html');
      res.end('<html><body>upstream 10.0.0.7:8080 internal-db-password=hunter2</body></html>');
    });
    await new Promise<void>((r) => garbage.listen(0, '127.0.0.1', () => r()));
    garbageUrl = `http://127.0.0.1:${(garbage.address() as AddressInfo).port}`;
  });
  after(async () => {
    garbage.closeAllConnections();
    await new Promise((r) => garbage.close(() => r(undefined)));
    await sim.close();
    await t.close();
  });

  const simChannel = (merchantId: string, secret = DEFAULT_APP.consumerSecret) =>
    t.channel(merchantId, {
      baseUrl: sim.url,
      consumerKey: DEFAULT_APP.consumerKey,
      consumerSecret: secret,
      passkey: DEFAULT_APP.passkey,
    });

  it('answers ok when the simulator issues a token for the stored key and secret', async () => {
    const ch = await simChannel(m.id);
    const r = await t.request('POST', `/v1/channels/${ch.id}/test`, { key: m.key });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, {
      object: 'channel_test',
      channelId: ch.id,
      ok: true,
      message: 'Daraja accepted the consumer key and secret',
      errorCode: null,
      errorMessage: null,
    });
  });

  it("answers not ok with Daraja's own code and message for a wrong secret, and asks again each time", async () => {
    const ch = await simChannel(m.id);
    assert.equal((await t.request('POST', `/v1/channels/${ch.id}/test`, { key: m.key })).body.ok, true);
    // the secret changes: the next test asks Daraja again rather than trusting a cached token
    const patched = await t.request('PATCH', `/v1/channels/${ch.id}`, {
      key: m.key,
      body: { consumerSecret: 'a-wrong-consumer-secret' },
    });
    assert.equal(patched.status, 200, patched.text);
    const r = await t.request('POST', `/v1/channels/${ch.id}/test`, { key: m.key });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.ok, false);
    assert.equal(r.body.errorCode, '400.008.01');
    assert.equal(r.body.errorMessage, 'Invalid Authentication passed');
    assert.equal(
      r.body.message,
      'Daraja refused the consumer key and secret: 400.008.01 Invalid Authentication passed',
    );
    assert.doesNotMatch(r.text, /a-wrong-consumer-secret|requestId/);
  });

  it('says an unreachable host could not be reached, without the connect error text', async () => {
    const ch = await t.channel(m.id, { baseUrl: 'http://127.0.0.1:9' });
    const r = await t.request('POST', `/v1/channels/${ch.id}/test`, { key: m.key });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.ok, false);
    assert.equal(
      r.body.message,
      'Daraja could not be reached at the channel’s base URL, or did not answer in time',
    );
    assert.equal(r.body.errorCode, null);
    assert.doesNotMatch(r.text, /ECONNREFUSED|connect|127\.0\.0\.1/);
  });

  it('never passes on a raw upstream body: only the HTTP status', async () => {
    const ch = await t.channel(m.id, { baseUrl: garbageUrl });
    const r = await t.request('POST', `/v1/channels/${ch.id}/test`, { key: m.key });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.ok, false);
    assert.equal(r.body.message, 'Daraja refused the token request (HTTP 502)');
    assert.doesNotMatch(r.text, /hunter2|10\.0\.0\.7|html/);
  });

  it("keeps the channel rules: another merchant's channel is 404, a live key may not test a simulator channel", async () => {
    const theirs = await simChannel(other.id);
    expectEnvelope(
      await t.request('POST', `/v1/channels/${theirs.id}/test`, { key: m.key }),
      404,
      'RESOURCE_NOT_FOUND',
    );
    const ours = await simChannel(m.id);
    const live = await t.key(m.id, ['*'], { env: 'live' });
    expectEnvelope(
      await t.request('POST', `/v1/channels/${ours.id}/test`, { key: live.key }),
      403,
      'FORBIDDEN',
    );
    expectEnvelope(
      await t.request('POST', '/v1/channels/not-a-channel/test', { key: m.key }),
      400,
      'VALIDATION_ERROR',
    );
    const readOnly = await t.key(m.id, ['channels:read']);
    const refused = expectEnvelope(
      await t.request('POST', `/v1/channels/${ours.id}/test`, { key: readOnly.key }),
      403,
      'MISSING_SCOPE',
    );
    assert.match(refused.error.message, /channels:write/);
    await expectSecured(t, m.id, {
      method: 'POST',
      path: `/v1/channels/${ours.id}/test`,
      scope: 'channels:write',
    });
  });

  it('is in the OpenAPI document', async () => {
    const doc = await t.request('GET', '/openapi.json');
    assert.ok(doc.body.paths['/v1/channels/{id}/test']?.post, 'documented');
  });
});
