/** `malipo dev` on a fresh data dir: everything starts, /readyz and the Temporal UI answer, Ctrl-C leaves nothing behind. */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { IDEMPOTENCY_SWEEP_SCHEDULE_ID } from '../../src/payments/idempotency-sweep';
import { freePort } from '../../src/temporal/dev-server';

const ROOT = path.resolve(__dirname, '..', '..');

function processesMentioning(text: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', text], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim() && !l.includes('pgrep'));
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

async function waitFor(url: string, timeoutMs: number): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.status === 200) return res;
      last = res.status;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer 200 in ${timeoutMs} ms (last: ${String(last)})`);
}

describe('malipo dev', () => {
  it('starts on embedded defaults, answers /readyz and the Temporal UI, pays out on the default channel, and stops every child on SIGINT', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'malipo-dev-'));
    const [port, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
    const child = spawn(path.join(ROOT, 'bin', 'malipo'), ['dev'], {
      cwd: ROOT,
      env: {
        ...process.env,
        MALIPO_DATA_DIR: dataDir,
        PORT: String(port),
        TEMPORAL_PORT: String(temporalPort),
        TEMPORAL_UI_PORT: String(uiPort),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b) => {
      out += String(b);
    });
    child.stderr.on('data', (b) => {
      out += String(b);
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const ready = await waitFor(`http://127.0.0.1:${port}/readyz`, 90_000);
      assert.deepEqual(await ready.json(), {
        status: 'ready',
        failing: [],
        checks: { database: 'ok', temporal: 'ok' },
      });
      assert.match(out, /DEVELOPMENT MODE/, 'development mode says so in its first log line');
      // the worker ensured the idempotency-key sweep schedule
      const connection = await Connection.connect({ address: `127.0.0.1:${temporalPort}` });
      try {
        const schedules = new Client({ connection }).schedule;
        const described = await (async () => {
          for (let i = 0; ; i++) {
            try {
              return await schedules.getHandle(IDEMPOTENCY_SWEEP_SCHEDULE_ID).describe();
            } catch (err) {
              if (i >= 50) throw err;
              await new Promise((r) => setTimeout(r, 200));
            }
          }
        })();
        assert.equal(described.action.workflowType, 'idempotencySweep');
      } finally {
        await connection.close();
      }
      const ui = await waitFor(`http://127.0.0.1:${uiPort}/`, 10_000);
      assert.match(await ui.text(), /<html/i);
      assert.match(out, new RegExp(`Temporal UI +http://127.0.0.1:${uiPort}`));
      assert.ok(
        fs.existsSync(path.join(dataDir, 'temporal.db')),
        'the dev server persists to SQLite in the data dir',
      );
      assert.ok(processesMentioning(dataDir).length >= 1, 'the dev server runs as a child');

      // the banner's one-time sign-in link opens the dashboard as the demo owner, once
      assert.match(out, new RegExp(`Dashboard +http://127.0.0.1:${port}/dashboard`));
      const signIn = /Sign in +(http:\/\/\S+)/.exec(out)?.[1];
      assert.ok(signIn, out);
      const first = await fetch(signIn, { redirect: 'manual' });
      assert.equal(first.status, 303);
      const cookie = first.headers.getSetCookie().find((c) => c.startsWith('malipo_session='));
      assert.ok(cookie, 'a session cookie');
      const overview = await fetch(`http://127.0.0.1:${port}/dashboard/overview`, {
        headers: { cookie: cookie.split(';')[0]! },
      });
      assert.equal(overview.status, 200);
      assert.match(await overview.text(), /Demo merchant/);
      assert.equal((await fetch(signIn, { redirect: 'manual' })).status, 410);

      // the demo merchant's default simulator channel can also pay out: no channelId needed
      const { apiKey } = JSON.parse(fs.readFileSync(path.join(dataDir, 'dev-credentials.json'), 'utf8'));
      const api = (p: string, init: RequestInit = {}) =>
        fetch(`http://127.0.0.1:${port}${p}`, {
          ...init,
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        });
      const created = await api('/v1/payouts', {
        method: 'POST',
        body: JSON.stringify({
          phone: '0708374149',
          amount: 50,
          remarks: 'Dev payout',
          reference: 'DEV-PO-1',
        }),
      });
      assert.equal(created.status, 202, await created.clone().text());
      const payout = (await created.json()) as { id: string };
      let settled: { status: string; mpesaReceipt: string | null } | undefined;
      for (let i = 0; i < 100 && (!settled || settled.status === 'pending'); i++) {
        await new Promise((r) => setTimeout(r, 200));
        settled = (await (await api(`/v1/payouts/${payout.id}`)).json()) as typeof settled;
      }
      assert.equal(settled?.status, 'success', JSON.stringify(settled));
      assert.match(settled?.mpesaReceipt ?? '', /^[A-Z0-9]{10}$/);
    } finally {
      child.kill('SIGINT');
      const code = await exited;
      assert.equal(code, 0, out);
    }
    // the dev server is started with --db-filename <dataDir>/temporal.db, so its command line names the dir
    assert.deepEqual(processesMentioning(dataDir), []);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});
