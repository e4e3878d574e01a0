/**
 * `malipo bench dashboard`: the dashboard's page weight and its speed over one merchant's 10,000 payments.
 * The real express app runs in this process on PGlite (or `--database-url`); payments are bulk-inserted
 * rows, so there is no Temporal server (a payment page's timeline then has no workflow history, as for
 * any payment whose workflow is gone). Chromium (Debian's, through playwright-core) loads the pages.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Client } from '@temporalio/client';
import { signUp } from '../accounts/users';
import { createSession } from '../accounts/sessions';
import { loadConfig } from '../config';
import { type Db, openDatabase } from '../db';
import { SESSION_COOKIE } from '../dashboard/session';
import { newId } from '../domain/ids';
import { createApp } from '../http/app';
import { nairobiMidnight } from '../http/routes/reports';
import { createLogger } from '../logger';
import { createApiKey, OPERATOR } from '../platform/keys';
import { SecretBox } from '../platform/secret-box';
import { PROJECT_ROOT } from '../temporal/tools';
import { percentile } from './stats';

const DAY_MS = 24 * 3600_000;

export interface DashboardBenchOptions {
  databaseUrl?: string;
  payments?: string;
  requests?: string;
  loads?: string;
  out?: string;
  label?: string;
}

export interface SeedCounts {
  total: number;
  success: number;
  failed: number;
  pending: number;
  needsReview: number;
  /** Whole KES of the successful payments. */
  successVolume: number;
}

/** Status of the i-th seeded payment: 75 % success, 17 % failed, 5 % pending, 3 % needs review. */
export function seedStatus(i: number): 'success' | 'failed' | 'pending' | 'needs_review' {
  const b = (i * 37) % 100;
  if (b < 75) return 'success';
  if (b < 92) return 'failed';
  if (b < 97) return 'pending';
  return 'needs_review';
}

/** The channel id of seeded payments (no such channel exists: nothing but the rows refer to it). */
export const SEED_CHANNEL = 'ch_bench';

/** The phone of seeded payment `i`: spread over the 2547… range, so a phone filter finds few rows. */
export function seededPhone(i: number): string {
  return `2547${String(10_000_000 + ((i * 7_654_321) % 90_000_000)).padStart(8, '0')}`;
}

/**
 * Inserts `n` payments for one merchant in multi-row inserts, spread over the 30 Nairobi days ending
 * today (none later than `now`), and returns what was inserted by status. `from` numbers the first
 * row, so seeding in steps (`from` = the rows already seeded) gives the same rows as seeding at once.
 */
export async function seedPayments(
  db: Db,
  merchantId: string,
  n: number,
  now: Date = new Date(),
  chunk = 1000,
  from = 0,
): Promise<SeedCounts> {
  const counts: SeedCounts = {
    total: 0,
    success: 0,
    failed: 0,
    pending: 0,
    needsReview: 0,
    successVolume: 0,
  };
  const today = nairobiMidnight(now).getTime();
  for (let start = from; start < from + n; start += chunk) {
    const rows = [];
    for (let i = start; i < Math.min(from + n, start + chunk); i++) {
      const status = seedStatus(i);
      const amount = 10 + ((i * 7919) % 4990);
      const day = i % 30;
      // a spread over the day that does not repeat with the day index
      const within = ((i * 104_729) % 86_400) * 1000;
      const createdAt = new Date(Math.min(today - day * DAY_MS + within, now.getTime() - 1000 - (i % 1000)));
      const settled = status === 'success' || status === 'failed';
      const id = newId('payment');
      rows.push({
        id,
        merchant_id: merchantId,
        environment: 'test',
        channel_id: SEED_CHANNEL,
        status,
        amount,
        phone: seededPhone(i),
        reference: `INV-${i}`,
        description: 'Bench payment',
        mpesa_receipt: status === 'success' ? `B${id.slice(4, 13).toUpperCase()}` : null,
        result_code: status === 'success' ? '0' : status === 'failed' ? '1032' : null,
        result_desc:
          status === 'success'
            ? 'The service request is processed successfully.'
            : status === 'failed'
              ? 'Request cancelled by user'
              : null,
        failure_reason: status === 'failed' ? 'cancelled' : null,
        review_reason: status === 'needs_review' ? 'no_callback' : null,
        created_at: createdAt,
        updated_at: createdAt,
        settled_at: settled ? new Date(createdAt.getTime() + 20_000) : null,
      });
      counts.total++;
      if (status === 'success') {
        counts.success++;
        counts.successVolume += amount;
      } else if (status === 'failed') counts.failed++;
      else if (status === 'pending') counts.pending++;
      else counts.needsReview++;
    }
    await db.insertInto('payments').values(rows).execute();
  }
  return counts;
}

export interface Weight {
  raw: number;
  gzip: number;
}

export function weigh(body: Buffer | string): Weight {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return { raw: b.length, gzip: zlib.gzipSync(b, { level: 6 }).length };
}

/** Same-origin assets a page loads: stylesheets and icons (`<link>`), scripts and images. */
export function assetUrls(page: string): string[] {
  const out = new Set<string>();
  for (const m of page.matchAll(/<(link|script|img)\b[^>]*>/gi)) {
    const tag = m[0];
    if (m[1]!.toLowerCase() === 'link' && !/\brel="(stylesheet|icon)"/i.test(tag)) continue;
    const url = /\b(?:href|src)="(\/[^"]*)"/i.exec(tag)?.[1];
    if (url && !url.startsWith('//')) out.add(url);
  }
  return [...out];
}

export interface PageWeight {
  path: string;
  status: number;
  html: Weight;
  css: Weight;
  js: Weight;
  /** Icons and images. */
  other: Weight;
  total: Weight;
  assets: string[];
}

const add = (a: Weight, b: Weight): Weight => ({ raw: a.raw + b.raw, gzip: a.gzip + b.gzip });
const ZERO: Weight = { raw: 0, gzip: 0 };

/** The bytes of a page and of each asset it names, fetched with this cookie; raw and as gzip would send them. */
export async function pageWeight(base: string, pagePath: string, cookie = ''): Promise<PageWeight> {
  const get = async (p: string) => {
    const res = await fetch(base + p, { headers: cookie ? { cookie } : {}, redirect: 'manual' });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
  };
  const page = await get(pagePath);
  const assets = assetUrls(page.body.toString('utf8'));
  const w: PageWeight = {
    path: pagePath,
    status: page.status,
    html: weigh(page.body),
    css: ZERO,
    js: ZERO,
    other: ZERO,
    total: ZERO,
    assets,
  };
  for (const a of assets) {
    const r = await get(a);
    if (r.status !== 200) throw new Error(`${a} (from ${pagePath}) answered ${r.status}`);
    const kind = /\.css(\?|$)/.test(a) ? 'css' : /\.js(\?|$)/.test(a) ? 'js' : 'other';
    w[kind] = add(w[kind], weigh(r.body));
  }
  w.total = add(add(add(w.html, w.css), w.js), w.other);
  return w;
}

export interface Timing {
  count: number;
  p50: number;
  p95: number;
}

export function timing(values: readonly number[]): Timing {
  const r = (v: number) => Math.round(v * 10) / 10;
  return { count: values.length, p50: r(percentile(values, 50)), p95: r(percentile(values, 95)) };
}

/** Wall time of `n` sequential GETs over loopback (after `warm` unmeasured ones), body read included. */
export async function timeGets(
  url: string,
  headers: Record<string, string>,
  n: number,
  warm = 5,
): Promise<Timing> {
  const times: number[] = [];
  for (let i = 0; i < warm + n; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { headers, redirect: 'manual' });
    await res.arrayBuffer();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
    if (i >= warm) times.push(ms);
  }
  return timing(times);
}

const CHROMIUM = process.env.MALIPO_CHROMIUM ?? '/usr/bin/chromium';

/** Run in the page (the project compiles without the DOM types): FCP, waiting up to 3 s, and navigation timing. */
const PAINT_TIMES = `(async () => {
  const deadline = Date.now() + 3000;
  let paint = performance.getEntriesByName('first-contentful-paint')[0];
  while (!paint && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    paint = performance.getEntriesByName('first-contentful-paint')[0];
  }
  const nav = performance.getEntriesByType('navigation')[0];
  return {
    fcp: paint ? paint.startTime : null,
    dcl: nav.domContentLoadedEventEnd - nav.startTime,
    ttfb: nav.responseStart - nav.startTime,
  };
})()`;

interface LoadCount {
  /** What page.on('request') saw. */
  browser: number;
  /** What reached the server. */
  server: number;
}

interface BrowserResults {
  requests: Record<string, { cold: LoadCount; warm: LoadCount }>;
  overview: { firstContentfulPaint: Timing; domContentLoaded: Timing; responseStart: Timing; loads: number };
}

async function browserRuns(
  base: string,
  token: string,
  pages: string[],
  loads: number,
  serverHits: { n: number },
): Promise<BrowserResults> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `chromium is missing at ${CHROMIUM}: apt-get install -y chromium, or set MALIPO_CHROMIUM`,
    );
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-quic',
    ],
  });
  try {
    const signedIn = async () => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      await context.addCookies([{ name: SESSION_COOKIE, value: token, url: `${base}/dashboard/` }]);
      return context;
    };
    const requests: BrowserResults['requests'] = {};
    for (const p of pages) {
      const context = await signedIn();
      const page = await context.newPage();
      let seen = 0;
      page.on('request', () => {
        seen++;
      });
      const load = async (): Promise<LoadCount> => {
        seen = 0;
        const before = serverHits.n;
        const res = await page.goto(base + p, { waitUntil: 'load' });
        if (res?.status() !== 200) throw new Error(`chromium: ${p} answered ${res?.status()}`);
        await page.waitForTimeout(200); // a late favicon request
        return { browser: seen, server: serverHits.n - before };
      };
      const cold = await load();
      // a second navigation (not a reload, which revalidates): cached assets stay in the cache
      await page.goto('about:blank');
      const warm = await load();
      requests[p] = { cold, warm };
      await context.close();
    }

    const context = await signedIn();
    const page = await context.newPage();
    const fcp: number[] = [];
    const dcl: number[] = [];
    const ttfb: number[] = [];
    for (let i = 0; i < loads + 1; i++) {
      await page.goto('about:blank');
      await page.goto(`${base}/dashboard/overview`, { waitUntil: 'load' });
      const m = await page.evaluate<{ fcp: number | null; dcl: number; ttfb: number }>(PAINT_TIMES);
      if (i === 0) continue; // the first load warms the cache
      if (m.fcp !== null) fcp.push(m.fcp);
      dcl.push(m.dcl);
      ttfb.push(m.ttfb);
    }
    await context.close();
    return {
      requests,
      overview: {
        firstContentfulPaint: timing(fcp),
        domContentLoaded: timing(dcl),
        responseStart: timing(ttfb),
        loads,
      },
    };
  } finally {
    await browser.close().catch(() => undefined);
  }
}

function num(v: string | undefined, def: number, what: string): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${what} must be a positive whole number`);
  return n;
}

const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;

export function dashboardTable(r: DashboardBenchResult): string {
  const lines: string[] = [];
  lines.push(
    `malipo bench dashboard · ${r.database} · ${r.payments} payments · node ${r.node} · ${r.cpus} CPUs · load ${r.loadAverage.join(' ')}`,
  );
  lines.push('');
  lines.push(
    'page             html raw / gzip        css raw / gzip         js raw / gzip          requests cold / cached',
  );
  for (const w of r.weight) {
    const req = r.requests[w.path];
    const cell = (x: Weight) => `${kb(x.raw)} / ${kb(x.gzip)}`.padEnd(23);
    lines.push(
      `${w.name.padEnd(17)}${cell(w.html)}${cell(w.css)}${cell(w.js)}${req ? `${req.cold.browser} / ${req.warm.browser} (server ${req.cold.server} / ${req.warm.server})` : ''}`,
    );
  }
  lines.push('');
  lines.push('server time, signed in, loopback        p50 ms   p95 ms   requests');
  for (const [name, t] of Object.entries(r.server)) {
    lines.push(`${name.padEnd(40)}${String(t.p50).padStart(6)}   ${String(t.p95).padStart(6)}   ${t.count}`);
  }
  lines.push('');
  const o = r.browser;
  lines.push(`chromium, overview, ${o.loads} loads          p50 ms   p95 ms`);
  lines.push(
    `first-contentful-paint                  ${String(o.firstContentfulPaint.p50).padStart(6)}   ${String(o.firstContentfulPaint.p95).padStart(6)}`,
  );
  lines.push(
    `DOMContentLoaded                        ${String(o.domContentLoaded.p50).padStart(6)}   ${String(o.domContentLoaded.p95).padStart(6)}`,
  );
  lines.push(
    `responseStart (first byte)              ${String(o.responseStart.p50).padStart(6)}   ${String(o.responseStart.p95).padStart(6)}`,
  );
  lines.push('');
  lines.push(`seeded in ${r.seedMs} ms · whole run ${(r.wallMs / 1000).toFixed(1)} s`);
  return lines.join('\n');
}

export interface DashboardBenchResult {
  kind: 'dashboard';
  label: string | null;
  at: string;
  database: 'pglite' | 'postgres';
  node: string;
  cpus: number;
  loadAverage: number[];
  payments: number;
  seeded: SeedCounts;
  seedMs: number;
  weight: (PageWeight & { name: string })[];
  requests: BrowserResults['requests'];
  server: Record<string, Timing>;
  browser: BrowserResults['overview'];
  wallMs: number;
}

export async function runDashboardBench(o: DashboardBenchOptions): Promise<DashboardBenchResult> {
  const wall = performance.now();
  const n = num(o.payments, 10_000, 'payments');
  const requests = num(o.requests, 30, 'requests');
  const loads = num(o.loads, 10, 'loads');
  const outFile = path.resolve(o.out ?? path.join(PROJECT_ROOT, 'bench', 'results', 'dashboard-latest.json'));
  const note = (s: string) => process.stderr.write(`[bench dashboard] ${s}\n`);

  const handle = await openDatabase({ url: o.databaseUrl });
  const config = loadConfig({ LOG_LEVEL: 'silent', MALIPO_MODE: 'development' });
  const secretBox = new SecretBox(crypto.randomBytes(32));
  // the seeded payments have no workflows: their history is "not found", as Temporal would answer
  const temporal = {
    workflowService: { getSystemInfo: async () => ({}) },
    workflow: {
      getHandle: () => ({
        fetchHistory: async () => {
          throw new Error('workflow not found');
        },
      }),
    },
  } as unknown as Client;
  const app = createApp({ config, db: handle.db, temporal, logger: createLogger('silent'), secretBox });
  const serverHits = { n: 0 };
  const server = http.createServer((req, res) => {
    serverHits.n++;
    app(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const tag = crypto.randomBytes(4).toString('hex');
    const { user, merchant } = await signUp(handle.db, {
      email: `bench-${tag}@example.com`,
      password: crypto.randomBytes(12).toString('base64url'),
      businessName: 'Bench Shop',
    });
    const session = await createSession(handle.db, { userId: user.id, merchantId: merchant.id }, new Date());
    const cookie = `${SESSION_COOKIE}=${session.token}`;
    const by = { actor: 'bench' };
    const key = await createApiKey(
      handle.db,
      secretBox,
      { merchantId: merchant.id, environment: 'test', scopes: ['payments:read'], expiresAt: null },
      by,
      OPERATOR,
    );
    for (const label of ['Shop server', 'Reports job']) {
      await createApiKey(
        handle.db,
        secretBox,
        { merchantId: merchant.id, environment: 'test', scopes: ['*'], expiresAt: null, label },
        by,
        OPERATOR,
      );
    }

    note(`seeding ${n} payments on ${handle.kind}`);
    const t0 = performance.now();
    const seeded = await seedPayments(handle.db, merchant.id, n);
    const seedMs = Math.round(performance.now() - t0);
    const one = await handle.db
      .selectFrom('payments')
      .select('id')
      .where('merchant_id', '=', merchant.id)
      .where('status', '=', 'success')
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow();

    const pages: Record<string, string> = {
      overview: '/dashboard/overview',
      payments: '/dashboard/payments',
      payment: `/dashboard/payments/${one.id}`,
      keys: '/dashboard/keys',
    };
    note('weighing pages');
    const weight: DashboardBenchResult['weight'] = [];
    for (const [name, p] of Object.entries(pages)) {
      const w = await pageWeight(base, p, cookie);
      if (w.status !== 200) throw new Error(`${p} answered ${w.status}`);
      weight.push({ name, ...w });
    }

    note(`timing ${requests} requests each`);
    const server: Record<string, Timing> = {
      'GET /dashboard/overview': await timeGets(base + pages.overview, { cookie }, requests),
      'GET /dashboard/payments (first page)': await timeGets(base + pages.payments, { cookie }, requests),
      'GET /v1/reports/summary': await timeGets(
        `${base}/v1/reports/summary`,
        { authorization: `Bearer ${key.key}` },
        requests,
      ),
    };

    note(`chromium: requests per page, then ${loads} overview loads`);
    const b = await browserRuns(base, session.token, Object.values(pages), loads, serverHits);

    const result: DashboardBenchResult = {
      kind: 'dashboard',
      label: o.label ?? null,
      at: new Date().toISOString(),
      database: handle.kind,
      node: process.version,
      cpus: os.cpus().length,
      loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
      payments: n,
      seeded,
      seedMs,
      weight,
      requests: b.requests,
      server,
      browser: b.overview,
      wallMs: Math.round(performance.now() - wall),
    };
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    fs.writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
    const shown = path.relative(process.cwd(), outFile);
    process.stdout.write(`${dashboardTable(result)}\nwrote ${shown.startsWith('..') ? outFile : shown}\n`);
    return result;
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(() => r(undefined)));
    await handle.close();
  }
}
