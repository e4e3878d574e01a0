/**
 * Every code sample in the docs that can run, runs: fenced blocks tagged `sh test`, `js test` or
 * `python test` in README.md, SECURITY.md and docs/**.md, against a fresh `malipo dev` (and a standalone
 * `malipo sandbox` for the simulator's own samples).
 *
 * - `sh test` blocks run in bash (`set -euo pipefail`) from a folder whose `.data` is the dev server's
 *   data dir, with `$KEY` (the demo key), `$CHANNEL` (the C2B paybill's channel) and `$PAY` (a paid
 *   payment) set, and `localhost:3000` / `127.0.0.1:3000` / `127.0.0.1:4010` pointed at this test's
 *   ports. They must exit 0, print no error envelope, and print what a preceding
 *   `<!-- expect: text -->` comment names.
 * - `js test webhook-verify` and `python test webhook-verify` blocks define a verification function;
 *   they are run on real deliveries this test receives from Malipo (both schemes, during a secret
 *   rotation) and must return the event, and refuse a tampered body.
 * - A block in a runnable language (sh, bash, js, ts, python) must be tagged `test` or `illustration`;
 *   other blocks (output, payloads, fragments) are illustrations.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/temporal/dev-server';
import { type FencedBlock, markdownPages, ROOT, splitMarkdown } from '../helpers/markdown';

const RUNNABLE = new Set(['sh', 'bash', 'shell', 'js', 'javascript', 'ts', 'typescript', 'python', 'py']);
/** Rewritten by other helpers right now; its one shell block lists bench commands. */
const NOT_CHECKED_FOR_TAGS = new Set(['docs/performance.md']);

interface Sample extends FencedBlock {
  page: string;
  lang: string;
  tags: string[];
  expect: string | undefined;
}

function samples(): Sample[] {
  return markdownPages().flatMap((page) => {
    const text = fs.readFileSync(path.join(ROOT, page), 'utf8');
    const lines = text.split('\n');
    return splitMarkdown(text).blocks.map((b) => {
      const [lang = '', ...tags] = b.info.split(/\s+/);
      let i = b.line - 2;
      while (i >= 0 && lines[i]!.trim() === '') i--;
      const expect = /^<!--\s*expect:\s*(.*?)\s*-->$/.exec(lines[i] ?? '')?.[1];
      return { ...b, page, lang, tags, expect };
    });
  });
}

const ALL = samples();
const tagged = (lang: string[], tag = 'test') =>
  ALL.filter((s) => lang.includes(s.lang) && s.tags.includes(tag));
const where = (s: Sample) => `${s.page}:${s.line}`;

describe('docs code samples are tagged', () => {
  it('every block in a runnable language is tagged `test` or `illustration`', () => {
    const untagged = ALL.filter(
      (s) =>
        RUNNABLE.has(s.lang) &&
        !NOT_CHECKED_FOR_TAGS.has(s.page) &&
        !s.tags.includes('test') &&
        !s.tags.includes('illustration'),
    );
    assert.deepEqual(untagged.map(where), []);
    const unknown = ALL.filter(
      (s) => s.tags.includes('test') && !['sh', 'bash', 'js', 'python'].includes(s.lang),
    );
    assert.deepEqual(unknown.map(where), [], 'only sh, bash, js and python blocks can be run');
  });
});

async function waitFor(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function startChild(
  args: string[],
  env: Record<string, string>,
): { child: ChildProcess; output: () => string } {
  const child = spawn(path.join(ROOT, 'bin', 'malipo'), args, {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (b) => {
    out += String(b);
  });
  child.stderr?.on('data', (b) => {
    out += String(b);
  });
  return { child, output: () => out };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

interface Delivery {
  body: string;
  headers: Record<string, string>;
}

describe('docs code samples run against malipo dev', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'malipo-docs-'));
  const dataDir = path.join(work, '.data');
  let port = 0;
  let sandboxPort = 0;
  let dev: ReturnType<typeof startChild>;
  let sandbox: ReturnType<typeof startChild>;
  let receiver: http.Server;
  const deliveries: Delivery[] = [];
  let payments = 0;
  let env: Record<string, string> = {};
  /** One request on a fresh connection (no kept-alive socket the server may have closed meanwhile). */
  // biome-ignore lint/suspicious/noExplicitAny: the API's JSON, read by field
  const api = (method: string, p: string, body?: unknown): Promise<any> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: p,
          method,
          agent: false,
          headers: { authorization: `Bearer ${env.KEY}`, 'content-type': 'application/json' },
        },
        (res) => {
          let text = '';
          res.on('data', (c) => {
            text += String(c);
          });
          res.on('end', () => {
            if ((res.statusCode ?? 500) >= 300)
              reject(new Error(`${method} ${p}: ${res.statusCode} ${text}`));
            else resolve(JSON.parse(text));
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  /** A payment by the simulated customer who pays at once, once it succeeded. */
  const paidPayment = async (amount: number): Promise<string> => {
    const created = await api('POST', '/v1/payments/stk-push', {
      phone: '0708374149',
      amount,
      reference: `DOCS-${++payments}`,
    });
    for (let i = 0; i < 100; i++) {
      const p = await api('GET', `/v1/payments/${created.id}`);
      if (p.status !== 'pending') {
        assert.equal(p.status, 'success', JSON.stringify(p));
        return created.id;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`payment ${created.id} stayed pending`);
  };
  const deliveryOf = async (paymentId: string): Promise<Delivery> => {
    for (let i = 0; i < 150; i++) {
      const d = deliveries.find((x) => JSON.parse(x.body).data?.id === paymentId);
      if (d) return d;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`no webhook delivery for ${paymentId}`);
  };

  before(async () => {
    [port, sandboxPort] = [await freePort(), await freePort()];
    const [temporalPort, uiPort, receiverPort] = [await freePort(), await freePort(), await freePort()];
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        deliveries.push({
          body: Buffer.concat(chunks).toString('utf8'),
          headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(receiverPort, '127.0.0.1', resolve));
    dev = startChild(['dev'], {
      MALIPO_DATA_DIR: dataDir,
      PORT: String(port),
      TEMPORAL_PORT: String(temporalPort),
      TEMPORAL_UI_PORT: String(uiPort),
    });
    sandbox = startChild(['sandbox', '--port', String(sandboxPort)], {});
    try {
      await waitFor(`http://127.0.0.1:${port}/readyz`, 120_000);
      await waitFor(`http://127.0.0.1:${sandboxPort}/sandbox/__sandbox/ledger`, 30_000);
    } catch (err) {
      throw new Error(
        `${String(err)}\n--- malipo dev ---\n${dev.output()}\n--- sandbox ---\n${sandbox.output()}`,
      );
    }
    const credentials = JSON.parse(fs.readFileSync(path.join(dataDir, 'dev-credentials.json'), 'utf8'));
    env = { KEY: credentials.apiKey, CHANNEL: credentials.c2bChannelId };
    env.PAY = await paidPayment(1000);
    env.RECEIVER = `http://127.0.0.1:${receiverPort}/webhooks/malipo`;
  });

  after(async () => {
    await Promise.all([
      dev ? stopChild(dev.child) : undefined,
      sandbox ? stopChild(sandbox.child) : undefined,
    ]);
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
    fs.rmSync(work, { recursive: true, force: true });
  });

  const shell = tagged(['sh', 'bash']);
  it(`has shell samples to run (${shell.length})`, () => {
    assert.ok(shell.length >= 8, `${shell.length} shell samples`);
  });
  for (const s of shell) {
    it(`runs ${where(s)}`, () => {
      const script = s.body
        .replaceAll('localhost:3000', `127.0.0.1:${port}`)
        .replaceAll('127.0.0.1:3000', `127.0.0.1:${port}`)
        .replaceAll('127.0.0.1:4010', `127.0.0.1:${sandboxPort}`);
      const r = spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
        cwd: work,
        env: { ...process.env, KEY: env.KEY, CHANNEL: env.CHANNEL, PAY: env.PAY },
        encoding: 'utf8',
        timeout: 60_000,
      });
      const out = `${r.stdout}${r.stderr}`;
      assert.equal(r.status, 0, `${where(s)} exited ${r.status}:\n${out}`);
      assert.doesNotMatch(r.stdout, /"error":\s*\{/, `${where(s)} printed an error envelope:\n${out}`);
      if (s.expect) assert.ok(r.stdout.includes(s.expect), `${where(s)} should print ${s.expect}:\n${out}`);
    });
  }

  const verifiers = [...tagged(['js'], 'webhook-verify'), ...tagged(['python'], 'webhook-verify')];
  it('has a webhook verification sample in Node and in Python', () => {
    assert.deepEqual(verifiers.map((s) => s.lang).sort(), ['js', 'python']);
  });

  /** Runs a verification sample on one delivery: the event it returns, or undefined when it refused. */
  function verify(s: Sample, d: Delivery, secret: string): { id: string } | undefined {
    const harness =
      s.lang === 'js'
        ? `\nconst d = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));\nprocess.stdout.write(JSON.stringify(verifyMalipo(Buffer.from(d.body), d.headers, d.secret)));\n`
        : `\nimport sys\nd = json.load(sys.stdin)\nsys.stdout.write(json.dumps(verify_malipo(d["body"].encode(), d["headers"], d["secret"])))\n`;
    const [cmd, flag] = s.lang === 'js' ? [process.execPath, '-e'] : ['python3', '-c'];
    const r = spawnSync(cmd, [flag, s.body + harness], {
      input: JSON.stringify({ ...d, secret }),
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (r.status !== 0) {
      assert.match(
        r.stderr,
        /no signature matches|no signature header|timestamp/,
        `${where(s)}: ${r.stderr}`,
      );
      return undefined;
    }
    return JSON.parse(r.stdout);
  }
  const only = (d: Delivery, scheme: 'standard' | 'paylod'): Delivery => ({
    body: d.body,
    headers: Object.fromEntries(
      Object.entries(d.headers).filter(([k]) =>
        scheme === 'standard' ? !k.startsWith('x-webhook-') : !k.startsWith('webhook-'),
      ),
    ),
  });

  it('the verification samples accept real deliveries in both schemes, also during a rotation, and refuse a tampered body', async () => {
    const endpoint = await api('POST', '/v1/webhook-endpoints', {
      url: env.RECEIVER,
      events: ['payment.success'],
    });
    const first = await deliveryOf(await paidPayment(10));
    const rotated = await api('POST', `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, {});
    const during = await deliveryOf(await paidPayment(11));
    assert.match(
      during.headers['webhook-signature'] ?? '',
      /^v1,\S+ v1,\S+$/,
      'two signatures while the old secret overlaps',
    );
    for (const s of verifiers) {
      for (const scheme of ['standard', 'paylod'] as const) {
        const d = only(first, scheme);
        assert.equal(verify(s, d, endpoint.secret)?.id, JSON.parse(first.body).id, `${where(s)} ${scheme}`);
        assert.equal(
          verify(s, d, rotated.secret),
          undefined,
          `${where(s)} ${scheme}: another secret is refused`,
        );
        const tampered = { ...d, body: d.body.replace('"success"', '"failed"') };
        assert.notEqual(tampered.body, d.body);
        assert.equal(verify(s, tampered, endpoint.secret), undefined, `${where(s)} ${scheme}: tampered body`);
        const overlap = only(during, scheme);
        for (const secret of [endpoint.secret, rotated.secret]) {
          assert.equal(
            verify(s, overlap, secret)?.id,
            JSON.parse(during.body).id,
            `${where(s)} ${scheme} rotation`,
          );
        }
      }
    }
  });
});
