/**
 * Crash recovery: the worker runs as a real child process (`malipo worker`) and is SIGKILLed
 * (no graceful shutdown), against a real Temporal dev server and PostgreSQL (MALIPO_TEST_DATABASE_URL,
 * or a throwaway server started here). The API, the simulator and a webhook receiver run in this process.
 *   1. killed between initiation and the customer's answer: the payment still settles once, to the truth,
 *      and its webhook still goes out;
 *   2. killed while a webhook request is in flight: the webhook still arrives, same event id, same bytes.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { type MalipoProcess, type Postgres, postgresServer, spawnMalipo } from '../../src/chaos/processes';
import { loadConfig } from '../../src/config';
import type { DatabaseHandle } from '../../src/db';
import { createApp } from '../../src/http/app';
import { createLogger } from '../../src/logger';
import { PaymentService } from '../../src/payments/service';
import { stkConfigFrom } from '../../src/payments/settings';
import { createChannel, DEVELOPMENT_CHANNEL_POLICY } from '../../src/platform/channels';
import { createApiKey, OPERATOR } from '../../src/platform/keys';
import { createMerchant } from '../../src/platform/merchants';
import { parseEncryptionKey, SecretBox } from '../../src/platform/secret-box';
import { customerAction, type SandboxServer } from '../../src/sandbox';
import { startSandboxServer } from '../../src/sandbox';
import { verifyWebhook } from '../../src/webhooks';
import { openFreshPostgres } from '../helpers/db';
import { eventually, STACK_ENV, STACK_STK } from '../helpers/stack';
import { devServer } from '../helpers/temporal';
import { simulatorChannelInput } from '../../src/admin/dev-bootstrap';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API
type Json = any;

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

let pgServer: Postgres;
let dbh: DatabaseHandle & { url: string };
let env: TestWorkflowEnvironment;
let sandbox: SandboxServer;
let api: http.Server;
let apiUrl: string;
let receiver: http.Server;
let recvUrl: string;
const received: Received[] = [];
/** Requests to /hold are kept open until released. */
const held: http.ServerResponse[] = [];
let workerEnv: Record<string, string>;
let worker: MalipoProcess | undefined;
const encryptionKey = crypto.randomBytes(32).toString('hex');
const callbackSecret = crypto.randomBytes(32).toString('hex');
const taskQueue = `malipo-crash-${crypto.randomBytes(4).toString('hex')}`;

async function startWorker(): Promise<MalipoProcess> {
  const w = spawnMalipo('worker', ['worker'], workerEnv);
  await w.waitFor(/worker running/, 120_000);
  return w;
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function request(
  method: string,
  path: string,
  key: string,
  body?: unknown,
): Promise<{ status: number; body: Json; text: string }> {
  const res = await fetch(apiUrl + path, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, text };
}

async function newMerchant(name: string, box: SecretBox) {
  const actor = { actor: 'crash-test' };
  const m = await createMerchant(dbh.db, { name }, actor);
  await createChannel(
    dbh.db,
    box,
    m.id,
    simulatorChannelInput(`${sandbox.url}/sandbox/daraja`),
    actor,
    DEVELOPMENT_CHANNEL_POLICY,
  );
  const k = await createApiKey(
    dbh.db,
    box,
    { merchantId: m.id, environment: 'test', scopes: ['*'] },
    actor,
    OPERATOR,
  );
  return { id: m.id, key: k.key };
}

before(async () => {
  pgServer = await postgresServer();
  dbh = await openFreshPostgres(pgServer.url);
  env = await devServer();
  sandbox = await startSandboxServer({ port: 0, callbackDelayMs: 300, promptTimeoutMs: 600_000 });

  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      if (
        req.url === '/hold' &&
        held.length === 0 &&
        received.filter((r) => r.path === '/hold').length === 1
      ) {
        held.push(res); // the first one only: the worker is killed while it waits
        return;
      }
      res.statusCode = 204;
      res.end();
    });
  });
  recvUrl = await listen(receiver);

  const box = new SecretBox(parseEncryptionKey(encryptionKey));
  let handler: http.RequestListener = (_q, s) => {
    s.statusCode = 503;
    s.end();
  };
  api = http.createServer((q, s) => handler(q, s));
  apiUrl = await listen(api);
  const baseEnv = {
    ...STACK_ENV,
    MALIPO_STK_DEADLINE_SECONDS: '180',
    DATABASE_URL: dbh.url,
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    MALIPO_ENCRYPTION_KEY: encryptionKey,
    MALIPO_CALLBACK_SECRET: callbackSecret,
    MALIPO_PUBLIC_URL: apiUrl,
    MALIPO_WEBHOOK_SCHEDULE_SCALE: '0.01',
    MALIPO_DATA_DIR: path.join(os.tmpdir(), `malipo-crash-${taskQueue}`),
  };
  const config = loadConfig({ ...baseEnv, PORT: '0' });
  const logger = createLogger('silent');
  const payments = new PaymentService({
    db: dbh.db,
    box,
    temporal: env.client,
    taskQueue,
    logger,
    initiationWaitMs: 8000,
    stkConfig: { ...stkConfigFrom(config), ...STACK_STK },
  });
  handler = createApp({
    config,
    db: dbh.db,
    temporal: env.client,
    logger,
    secretBox: box,
    payments,
    callbackSecret,
    // loopback receivers are allowed in development mode; skip DNS
    webhookResolver: async () => [{ address: '127.0.0.1', family: 4 }],
  });
  workerEnv = { ...baseEnv, LOG_LEVEL: 'info' };
  worker = await startWorker();
  (globalThis as { __crashBox?: SecretBox }).__crashBox = box;
});

after(async () => {
  await worker?.kill('SIGKILL');
  for (const r of held.splice(0)) r.destroy();
  receiver?.closeAllConnections();
  await new Promise((r) => receiver?.close(() => r(undefined)) ?? r(undefined));
  api?.closeAllConnections();
  await new Promise((r) => api?.close(() => r(undefined)) ?? r(undefined));
  await sandbox?.close();
  await env?.teardown();
  await dbh?.close();
  await pgServer?.stop();
});

const box = () => (globalThis as { __crashBox?: SecretBox }).__crashBox as SecretBox;

async function waitFinal(key: string, id: string, timeoutMs = 120_000): Promise<Json> {
  return eventually(
    async () => {
      const r = await request('GET', `/v1/payments/${id}`, key);
      return r.status === 200 && r.body.status !== 'pending' ? r.body : undefined;
    },
    timeoutMs,
    `payment ${id} final`,
    500,
  );
}

const pushesOf = (paymentId: string) =>
  sandbox.sandbox.state
    .ledger()
    .pushes.filter((p) => p.callbackUrl.includes(`/hooks/daraja/stk/${paymentId}/`));

describe('crash recovery (worker SIGKILLed)', () => {
  it('killed between initiation and the customer’s answer: settles once, to the truth, and the webhook goes out', async () => {
    const m = await newMerchant('Crash shop 1', box());
    const ep = await request('POST', '/v1/webhook-endpoints', m.key, {
      url: `${recvUrl}/ep1`,
      events: ['*'],
    });
    assert.equal(ep.status, 201, ep.text);
    const phone = `25471${String(crypto.randomInt(0, 10_000_000)).padStart(7, '0')}`; // waits for the handset
    const created = await request('POST', '/v1/payments/stk-push', m.key, {
      phone,
      amount: 321,
      reference: 'CRASH1',
    });
    assert.equal(created.status, 202, created.text);
    const id: string = created.body.id;
    const push = await eventually(() => pushesOf(id)[0], 30_000, 'the push at the simulator');

    await worker?.kill('SIGKILL');
    assert.equal(customerAction(sandbox.sandbox.state, push.checkoutRequestId, 'pay', '1234'), undefined);
    // the callback reaches the API while no worker runs; Temporal keeps the signal
    await eventually(
      () => (pushesOf(id)[0]?.callbacks.some((c) => c.ok) ? true : undefined),
      30_000,
      'the callback',
    );
    worker = await startWorker();

    const final = await waitFinal(m.key, id);
    const truth = pushesOf(id);
    assert.equal(truth.length, 1, 'one push');
    assert.equal(final.status, 'success', JSON.stringify(final));
    assert.equal(final.mpesaReceipt, truth[0]?.receipt);
    assert.equal(final.amount, 321);
    const events = await dbh.db.selectFrom('events').selectAll().where('payment_id', '=', id).execute();
    assert.equal(events.filter((e) => e.type === 'payment.success').length, 1, 'one success event');
    const deliveries = await eventually(
      () => {
        const got = received.filter((r) => r.path === '/ep1');
        return got.length > 0 ? got : undefined;
      },
      60_000,
      'the webhook',
    );
    const bodies = new Set(deliveries.map((d) => d.body));
    assert.equal(bodies.size, 1, 'identical bodies');
    for (const d of deliveries) {
      const evt = verifyWebhook<Json>(d.body, d.headers as Record<string, string>, ep.body.secret);
      assert.equal(evt.data.id, id);
      assert.equal(evt.type, 'payment.success');
    }
  });

  it('killed while a webhook request is in flight: it still arrives, same event id, identical body', async () => {
    const m = await newMerchant('Crash shop 2', box());
    const ep = await request('POST', '/v1/webhook-endpoints', m.key, {
      url: `${recvUrl}/hold`,
      events: ['*'],
    });
    assert.equal(ep.status, 201, ep.text);
    const created = await request('POST', '/v1/payments/stk-push', m.key, {
      phone: '254708374149',
      amount: 77,
      reference: 'CRASH2',
    });
    assert.equal(created.status, 202, created.text);
    const id: string = created.body.id;
    await eventually(() => (held.length > 0 ? true : undefined), 60_000, 'the held webhook request');
    const first = received.find((r) => r.path === '/hold') as Received;

    await worker?.kill('SIGKILL');
    for (const r of held.splice(0)) r.destroy(); // the receiver never answered it
    worker = await startWorker();

    // the activity's start-to-close timeout (45 s) passes before Temporal retries it on the new worker
    const again = await eventually(
      () => received.filter((r) => r.path === '/hold')[1],
      150_000,
      'the webhook again after the restart',
      500,
    );
    assert.equal(again.headers['webhook-id'], first.headers['webhook-id'], 'same event id');
    assert.equal(again.body, first.body, 'identical body');
    for (const d of [first, again]) {
      const evt = verifyWebhook<Json>(d.body, d.headers as Record<string, string>, ep.body.secret);
      assert.equal(evt.data.id, id);
    }
    const final = await waitFinal(m.key, id);
    assert.equal(final.status, 'success');
    assert.equal(pushesOf(id).length, 1);
    const events = await dbh.db.selectFrom('events').selectAll().where('payment_id', '=', id).execute();
    assert.equal(events.filter((e) => e.type === 'payment.success').length, 1);
  });
});
