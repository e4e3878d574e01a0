/**
 * `malipo bench growth`: what a payment costs as the work Malipo already carries grows. On the bench
 * stack (src/bench/stack.ts) at the default STK timings (deadline 180 s, first query after 20 s):
 *
 * 1. rows: with 1k, 10k and 100k payments already in the database (seeded in multi-row inserts inside
 *    Malipo's process, see growth-child.ts), the closed-loop payments/s and CPU ms per payment, and the
 *    p50/p99 of `GET /v1/payments` for each filter, with the EXPLAIN ANALYZE of each at the largest size;
 * 2. pending: with 1k, 5k and 10k real stkPush workflows whose customer never answers, the same
 *    closed loop beside them, and the worker's RSS and V8 heap (after a full GC) per pending payment.
 *
 * Writes bench/results/growth-latest.json, growth-latest.md and growth.svg (and a copy of each named
 * after the database). See docs/performance.md, "Cost as work grows".
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { loadConfig } from '../config';
import { PROJECT_ROOT } from '../temporal/tools';
import { seededPhone } from './dashboard';
import type {
  GrowthCountReply,
  GrowthExplainReply,
  GrowthMemoryReply,
  GrowthSeedReply,
  ListFilter,
} from './growth-child';
import { closedLoop, errorKind, JsonClient, type LoadResult, type Operation } from './load';
import { ResourceSampler } from './proc';
import { Progress } from './progress';
import { type BenchStack, startBenchStack } from './stack';
import { type LatencySummary, summarize } from './stats';
import { latencyChartSvg } from './svg';

export interface GrowthOptions {
  quick?: boolean;
  /** Payments already in the database, comma-separated (default 1000,10000,100000). */
  sizes?: string;
  /** Pending payments beside the closed loop, comma-separated (default 1000,5000,10000). */
  pending?: string;
  /** Seconds of each closed-loop window. */
  seconds?: string;
  concurrency?: string;
  /** Timed `GET /v1/payments` requests per filter and size. */
  requests?: string;
  databaseUrl?: string;
  /** Results directory (default bench/results). */
  out?: string;
  label?: string;
  /** No progress lines (the test). */
  silent?: boolean;
}

/** One closed-loop window: payments/s and CPU beside `rows` payments in the database and `pending` waiting. */
export interface GrowthWindow {
  phase: 'rows' | 'pending';
  /** Payments of the merchant in the database when the window started (seeded and real). */
  rows: number;
  /** The pending payments asked for, and those the database held as pending at the window's start and end. */
  pendingTarget: number;
  pendingAtStart: number;
  pendingAtEnd: number;
  /** stkPush workflows still running (pending, or listening for a late callback after the deadline). */
  openWorkflows: number | null;
  durationS: number;
  completed: number;
  completedPerSecond: number;
  e2e: LatencySummary;
  errors: Record<string, number>;
  cpuMsPerPayment: { malipo: number; server: number };
  /** The worker's process after a full GC at the window's end (on PGlite it also holds the API and database). */
  worker: { rssMiB: number; heapMiB: number };
  /** GET /v1/payments latency by filter (rows windows only). */
  list: Record<string, LatencySummary>;
}

export interface GrowthPlan {
  filter: string;
  /** Index (or table) scans the plan uses. */
  scans: string[];
  /** Rows the largest scan node read, kept and filtered out: O(page) when this is about a page, not the table. */
  rowsExamined: number;
  plan: string[];
}

export interface GrowthResult {
  kind: 'growth';
  version: 1;
  label: string | null;
  startedAt: string;
  wallSeconds: number;
  database: 'pglite' | 'postgresql';
  machine: { cpus: number; node: string; loadAverageBefore: number[]; loadAverageAfter: number[] };
  options: {
    sizes: number[];
    pending: number[];
    seconds: number;
    concurrency: number;
    requests: number;
  };
  /** The STK timings of the run (the configuration's defaults). */
  timings: Record<string, string>;
  seeded: { rows: number; ms: number; rowsPerSecond: number };
  windows: GrowthWindow[];
  /** Pending targets not tried: a smaller one was not reached within the deadline. */
  skippedPending: number[];
  /** EXPLAIN ANALYZE of each list filter at the largest size. */
  plans: GrowthPlan[];
  memory: {
    /** The worker's process before any pending payment, after a full GC. */
    baseline: { rssMiB: number; heapMiB: number };
    /**
     * Growth over the baseline per open stkPush workflow at the window's end (pending payments, and
     * those past the deadline still listening for a late callback), by pending target.
     */
    perPending: Array<{ pending: number; openWorkflows: number; rssKiB: number; heapKiB: number }>;
    workerProcess: string;
  };
}

const MiB = 1024 * 1024;

/** The STK timings of a default configuration (the bench stack's holding settings are not used here). */
export function defaultStkTimings(): Record<string, string> {
  const c = loadConfig({ LOG_LEVEL: 'silent' });
  return {
    MALIPO_STK_DEADLINE_SECONDS: String(c.MALIPO_STK_DEADLINE_SECONDS),
    MALIPO_STK_QUERY_FIRST_SECONDS: String(c.MALIPO_STK_QUERY_FIRST_SECONDS),
    MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS: String(c.MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS),
  };
}

function counts(v: string | undefined, def: number[], what: string): number[] {
  if (v === undefined) return def;
  const xs = v.split(',').map((x) => Number(x.trim()));
  if (xs.some((x) => !Number.isInteger(x) || x <= 0)) {
    throw new Error(`--${what} must be positive whole numbers, comma-separated`);
  }
  return xs.sort((a, b) => a - b);
}

function positive(v: string | undefined, def: number, what: string): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${what} must be a positive number`);
  return n;
}

/** Sends `message` to Malipo's process and returns the answer, or throws the error it answered. */
async function ask<T>(s: BenchStack, to: 'api' | 'worker', message: Record<string, unknown>): Promise<T> {
  const r = (await s.request(to, message as { type: string })) as T & { error?: string };
  if (r.error) throw new Error(`${String(message.type)}: ${r.error}`);
  return r;
}

/** The list filters timed at each size; the reference and receipt are those of seeded rows. */
function listFilters(seededRows: number, receipt: string | null): Array<[string, ListFilter]> {
  const out: Array<[string, ListFilter]> = [
    ['first page', {}],
    ['status=success', { status: 'success' }],
    ['status=needs_review', { status: 'needs_review' }],
    ['reference', { reference: `INV-${Math.floor(seededRows / 2)}` }],
    ['phone', { phone: seededPhone(Math.floor(seededRows / 2)) }],
  ];
  if (receipt) out.push(['search (receipt)', { search: receipt }]);
  return out;
}

function queryString(f: ListFilter): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v !== undefined) p.set(k, v);
  const q = p.toString();
  return q ? `?${q}` : '';
}

/** Scans and rows read from an EXPLAIN ANALYZE text plan. */
export function readPlan(plan: readonly string[]): { scans: string[]; rowsExamined: number } {
  const scans: string[] = [];
  let examined = 0;
  // rows of the scan node being read (kept, and removed by its filter); the largest node is the answer
  let node = 0;
  let inScan = false;
  for (const line of plan) {
    const scan =
      /(Index Only Scan|Index Scan|Bitmap Index Scan|Bitmap Heap Scan|Seq Scan)(?: Backward)?(?: using (\S+))?(?: on (\S+))?/.exec(
        line,
      );
    if (scan) {
      scans.push(scan[2] ? `${scan[1]} ${scan[2]}` : `${scan[1]} ${scan[3] ?? ''}`.trim());
      const rows = /actual rows=(\d+)/.exec(line);
      node = rows ? Number(rows[1]) : 0;
      examined = Math.max(examined, node);
      inScan = true;
      continue;
    }
    if (/^\s*->/.test(line)) inScan = false;
    const removed = /Rows Removed by (?:Filter|Index Recheck): (\d+)/.exec(line);
    if (removed && inScan) {
      node += Number(removed[1]);
      examined = Math.max(examined, node);
    }
  }
  return { scans, rowsExamined: examined };
}

export async function runGrowthBench(o: GrowthOptions): Promise<GrowthResult> {
  const quick = Boolean(o.quick);
  const sizes = counts(o.sizes, quick ? [1000, 10_000] : [1000, 10_000, 100_000], 'sizes');
  const pendingTargets = counts(o.pending, quick ? [200, 1000] : [1000, 5000, 10_000], 'pending');
  const seconds = positive(o.seconds, quick ? 8 : 20, 'seconds');
  const concurrency = positive(o.concurrency, 32, 'concurrency');
  const requests = positive(o.requests, quick ? 50 : 200, 'requests');
  const outDir = path.resolve(o.out ?? path.join(PROJECT_ROOT, 'bench', 'results'));
  const timings = defaultStkTimings();
  const wallStart = Date.now();
  const loadBefore = os.loadavg();
  const progress = new Progress(o.silent ? devNull() : process.stderr);
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed in this process
  }

  const client = new JsonClient();
  let stack: BenchStack | undefined;
  try {
    stack = await startBenchStack({
      databaseUrl: o.databaseUrl,
      env: timings,
      onStep: (x) => progress.note(x),
    });
    const s = stack;
    const auth = { authorization: `Bearer ${s.key}` };
    const sampler = new ResourceSampler(s.sampledPids());
    sampler.start();
    let seq = 0;
    const pay =
      (phone: () => string, waitWebhook: boolean): Operation =>
      async () => {
        const t0 = performance.now();
        try {
          const r = await client.post(
            `${s.url}/v1/payments/stk-push`,
            { phone: phone(), amount: 10, reference: `g${(seq++).toString(36)}` },
            auth,
          );
          const id = (r.json as { id?: string } | undefined)?.id;
          if (r.status !== 202 || !id)
            return { ok: false, endAt: performance.now(), error: `http_${r.status}` };
          if (!waitWebhook) return { ok: true, endAt: performance.now(), paymentId: id };
          const d = await s.waitForWebhook(id, 60_000);
          return { ok: true, e2eMs: d.at - t0, endAt: d.at, paymentId: id };
        } catch (err) {
          return { ok: false, endAt: performance.now(), error: errorKind(err) };
        }
      };
    const payNow = pay(() => s.payingPhone(), true);
    let silentSeq = 0;
    // numbers outside the scenario table and the paying pool: the customer never answers
    const silentPhone = () => `25471${String(1_000_000 + silentSeq++).padStart(7, '0')}`;

    const count = () => ask<GrowthCountReply>(s, 'api', { type: 'growthCount' });
    const memory = async () => {
      const m = await ask<GrowthMemoryReply>(s, 'worker', { type: 'growthMemory' });
      return { rssMiB: m.rss / MiB, heapMiB: m.heapUsed / MiB };
    };
    const openWorkflows = async (): Promise<number | null> => {
      try {
        const c = await s.temporal.workflow.count('WorkflowType="stkPush" AND ExecutionStatus="Running"');
        return c.count;
      } catch {
        return null;
      }
    };

    const windows: GrowthWindow[] = [];
    const measure = async (phase: GrowthWindow['phase'], pendingTarget: number): Promise<GrowthWindow> => {
      await new Promise((r) => setTimeout(r, 1000));
      const before = await count();
      sampler.window();
      progress.phase(`${phase}: closed loop c=${concurrency}`, seconds);
      const r: LoadResult = await closedLoop(concurrency, seconds * 1000, payNow, progress);
      const res = sampler.window();
      const after = await count();
      const ok = r.samples.filter((x) => x.ok);
      const errors: Record<string, number> = {};
      for (const x of r.samples)
        if (!x.ok) errors[x.error ?? 'unknown'] = (errors[x.error ?? 'unknown'] ?? 0) + 1;
      const secs = Math.max(0.001, (r.endedAt - r.startedAt) / 1000);
      const w: GrowthWindow = {
        phase,
        rows: before.total,
        pendingTarget,
        pendingAtStart: before.livePending,
        pendingAtEnd: after.livePending,
        openWorkflows: await openWorkflows(),
        durationS: secs,
        completed: ok.length,
        completedPerSecond: ok.length / secs,
        e2e: summarize(ok.flatMap((x) => (x.e2eMs === undefined ? [] : [x.e2eMs]))),
        errors,
        cpuMsPerPayment: {
          malipo: ok.length ? (res.malipoCpuS * 1000) / ok.length : Number.NaN,
          server: ok.length ? (res.serverCpuS * 1000) / ok.length : Number.NaN,
        },
        worker: await memory(),
        list: {},
      };
      progress.done(
        `${w.rows} rows, ${w.pendingAtStart}→${w.pendingAtEnd} pending: ${w.completedPerSecond.toFixed(1)}/s, CPU ${w.cpuMsPerPayment.malipo.toFixed(1)} ms/payment`,
      );
      windows.push(w);
      return w;
    };

    progress.phase('warm-up', 20);
    await closedLoop(4, 60_000, payNow, progress, 20);
    progress.done('done');

    // 1. Rows already in the database.
    let seededRows = 0;
    let seedMs = 0;
    let filters: Array<[string, ListFilter]> = [];
    for (const size of sizes) {
      const have = (await count()).total;
      if (size > have) {
        progress.note(`seeding ${size - have} payments (to ${size})`);
        const r = await ask<GrowthSeedReply>(s, 'api', {
          type: 'growthSeed',
          from: seededRows,
          n: size - have,
        });
        seededRows += r.inserted;
        seedMs += r.ms;
      }
      const w = await measure('rows', 0);
      const oneSuccess = await fetch(`${s.url}/v1/payments?status=success&limit=1`, { headers: auth });
      const receipt =
        ((await oneSuccess.json()) as { data?: Array<{ mpesaReceipt?: string | null }> }).data?.[0]
          ?.mpesaReceipt ?? null;
      filters = listFilters(seededRows, receipt);
      progress.phase(`GET /v1/payments at ${w.rows} rows`, filters.length * requests);
      let done = 0;
      for (const [name, f] of filters) {
        const url = `${s.url}/v1/payments${queryString(f)}`;
        const times: number[] = [];
        for (let i = 0; i < requests + 3; i++) {
          const t0 = performance.now();
          const res = await fetch(url, { headers: auth });
          await res.arrayBuffer();
          if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
          if (i >= 3) times.push(performance.now() - t0);
          progress.tick(++done, name);
        }
        w.list[name] = summarize(times);
      }
      progress.done(
        Object.entries(w.list)
          .map(([k, v]) => `${k} p99 ${v.p99.toFixed(1)} ms`)
          .join(', '),
      );
    }
    const explained = await ask<GrowthExplainReply>(s, 'api', {
      type: 'growthExplain',
      filters: filters.map(([, f]) => f),
    });
    const plans: GrowthPlan[] = explained.plans.map((p, i) => ({
      filter: filters[i]?.[0] ?? JSON.stringify(p.filter),
      ...readPlan(p.plan),
      plan: p.plan,
    }));

    // 2. Pending payments at the default deadline. Payments created longer than the deadline ago are
    // no longer pending, so at most (creation rate × deadline) can be: each target gets the deadline
    // less one window to be reached; one that is not ends the phase, and the larger ones are skipped.
    const baseline = await memory();
    const createMs = Math.max(10, Number(timings.MALIPO_STK_DEADLINE_SECONDS) - seconds - 10) * 1000;
    let created = 0;
    const skipped: number[] = [];
    for (const [i, target] of pendingTargets.entries()) {
      const live = (await count()).livePending;
      const toCreate = Math.max(0, target - live);
      progress.phase(`creating ${toCreate} pending (to ${target})`, toCreate);
      const r = await closedLoop(concurrency, createMs, pay(silentPhone, false), progress, toCreate);
      const ok = r.samples.filter((x) => x.ok).length;
      created += ok;
      progress.done(
        `${ok}/${toCreate} created, ${(ok / Math.max(0.001, (r.endedAt - r.startedAt) / 1000)).toFixed(1)}/s`,
      );
      const w = await measure('pending', target);
      if (w.pendingAtStart < 0.9 * target) {
        skipped.push(...pendingTargets.slice(i + 1));
        break;
      }
    }
    sampler.stop();
    progress.note(`${created} pending payments created in all`);

    const pendingWindows = windows.filter((w) => w.phase === 'pending');
    const result: GrowthResult = {
      kind: 'growth',
      version: 1,
      label: o.label ?? null,
      startedAt: new Date(wallStart).toISOString(),
      wallSeconds: (Date.now() - wallStart) / 1000,
      database: o.databaseUrl ? 'postgresql' : 'pglite',
      machine: {
        cpus: os.cpus().length,
        node: process.version,
        loadAverageBefore: loadBefore,
        loadAverageAfter: os.loadavg(),
      },
      options: { sizes, pending: pendingTargets, seconds, concurrency, requests },
      timings,
      seeded: { rows: seededRows, ms: seedMs, rowsPerSecond: seedMs > 0 ? (seededRows * 1000) / seedMs : 0 },
      windows,
      skippedPending: skipped,
      plans,
      memory: {
        baseline,
        perPending: memoryPerWorkflow(pendingWindows, baseline),
        workerProcess: s.malipo.pids.length > 1 ? 'worker alone' : 'API + worker + PGlite in one process',
      },
    };

    const table = writeGrowth(result, outDir);
    if (!o.silent) process.stdout.write(`${table}\n`);
    progress.note(`wrote growth-latest.json, growth-latest.md and growth.svg in ${outDir}`);
    return result;
  } finally {
    client.close();
    progress.note('stopping');
    await stack?.stop();
  }
}

/**
 * Growth of the worker's memory over the baseline per open stkPush workflow at each window's end: the
 * worker holds the pending payments and those past the deadline still listening for a late callback.
 */
export function memoryPerWorkflow(
  pending: readonly GrowthWindow[],
  baseline: { rssMiB: number; heapMiB: number },
): GrowthResult['memory']['perPending'] {
  return pending.map((w) => {
    const open = w.openWorkflows ?? w.pendingAtEnd;
    const per = (mib: number) => (open > 0 ? (mib * 1024) / open : Number.NaN);
    return {
      pending: w.pendingAtEnd,
      openWorkflows: open,
      rssKiB: per(w.worker.rssMiB - baseline.rssMiB),
      heapKiB: per(w.worker.heapMiB - baseline.heapMiB),
    };
  });
}

/** Writes growth-latest.{json,md}, growth.svg and a copy of each named after the database; returns the table. */
export function writeGrowth(result: GrowthResult, outDir: string): string {
  const table = growthTable(result);
  fs.mkdirSync(outDir, { recursive: true });
  const json = `${JSON.stringify(result, jsonNumbers, 2)}\n`;
  const svg = growthSvg(result);
  for (const name of ['latest', result.database]) {
    fs.writeFileSync(path.join(outDir, `growth-${name}.json`), json);
    fs.writeFileSync(path.join(outDir, `growth-${name}.md`), `${table}\n`);
  }
  fs.writeFileSync(path.join(outDir, 'growth.svg'), svg);
  fs.writeFileSync(path.join(outDir, `growth-${result.database}.svg`), svg);
  return table;
}

/** Re-renders the table and plot of a saved result (after a change to how they are drawn). */
export function rerenderGrowth(jsonFile: string, outDir?: string): string {
  const r = JSON.parse(fs.readFileSync(path.resolve(jsonFile), 'utf8')) as GrowthResult;
  r.skippedPending ??= [];
  r.memory.perPending = memoryPerWorkflow(
    r.windows.filter((w) => w.phase === 'pending'),
    r.memory.baseline,
  );
  return writeGrowth(r, path.resolve(outDir ?? path.join(PROJECT_ROOT, 'bench', 'results')));
}

function devNull(): NodeJS.WriteStream {
  return { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;
}

/** NaN and Infinity become null in the JSON; long decimals are rounded. */
function jsonNumbers(_key: string, v: unknown): unknown {
  if (typeof v !== 'number') return v;
  if (!Number.isFinite(v)) return null;
  return Number.isInteger(v) ? v : Math.round(v * 1000) / 1000;
}

const f1 = (v: number | null | undefined, digits = 1): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
const thousands = (n: number): string => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));

function mdTable(head: string[], rows: string[][]): string[] {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
}

/** The result as markdown tables (printed, written to growth-latest.md, pasted in docs/performance.md). */
export function growthTable(r: GrowthResult): string {
  const errs = (w: GrowthWindow) =>
    Object.entries(w.errors)
      .map(([k, v]) => `${k}:${v}`)
      .join(' ') || '0';
  const rows = r.windows.filter((w) => w.phase === 'rows');
  const pending = r.windows.filter((w) => w.phase === 'pending');
  const filterNames = [...new Set(rows.flatMap((w) => Object.keys(w.list)))];
  const perPending = new Map(r.memory.perPending.map((m, i) => [pending[i], m]));
  const out = [
    `**${r.database}** · closed loop c=${r.options.concurrency}, ${r.options.seconds} s per window · STK deadline ${r.timings.MALIPO_STK_DEADLINE_SECONDS} s, first query after ${r.timings.MALIPO_STK_QUERY_FIRST_SECONDS} s, then at most every ${r.timings.MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS} s · ${r.machine.cpus} CPUs, load average ${r.machine.loadAverageBefore.map((x) => x.toFixed(2)).join(' ')} before, ${r.machine.loadAverageAfter.map((x) => x.toFixed(2)).join(' ')} after`,
    '',
    ...mdTable(
      [
        'payments in the database',
        'payments/s',
        'e2e p50 ms',
        'e2e p99 ms',
        'CPU ms/payment Malipo',
        'server',
        'errors',
      ],
      rows.map((w) => [
        String(w.rows),
        f1(w.completedPerSecond),
        f1(w.e2e.p50),
        f1(w.e2e.p99),
        f1(w.cpuMsPerPayment.malipo),
        f1(w.cpuMsPerPayment.server),
        errs(w),
      ]),
    ),
    '',
    ...mdTable(
      [
        'GET /v1/payments (p50 / p99 ms)',
        ...rows.map((w) => `${w.rows} rows`),
        'plan at the largest size',
        'rows read',
      ],
      filterNames.map((name) => {
        const plan = r.plans.find((p) => p.filter === name);
        return [
          `\`${name}\``,
          ...rows.map((w) => (w.list[name] ? `${f1(w.list[name].p50)} / ${f1(w.list[name].p99)}` : '-')),
          plan ? plan.scans.join(', ') : '-',
          plan ? String(plan.rowsExamined) : '-',
        ];
      }),
    ),
    '',
    ...mdTable(
      [
        'pending asked',
        'pending at start → end',
        'open stkPush workflows',
        'payments/s',
        'e2e p99 ms',
        'CPU ms/payment Malipo',
        'server',
        'worker RSS MiB',
        'heap MiB',
        'KiB/open workflow RSS',
        'heap',
        'errors',
      ],
      [
        [
          'none',
          '-',
          '-',
          '-',
          '-',
          '-',
          '-',
          f1(r.memory.baseline.rssMiB, 0),
          f1(r.memory.baseline.heapMiB, 0),
          '-',
          '-',
          '-',
        ],
        ...pending.map((w) => [
          thousands(w.pendingTarget),
          `${w.pendingAtStart} → ${w.pendingAtEnd}`,
          w.openWorkflows === null ? '-' : String(w.openWorkflows),
          f1(w.completedPerSecond),
          f1(w.e2e.p99),
          f1(w.cpuMsPerPayment.malipo),
          f1(w.cpuMsPerPayment.server),
          f1(w.worker.rssMiB, 0),
          f1(w.worker.heapMiB, 0),
          f1(perPending.get(w)?.rssKiB),
          f1(perPending.get(w)?.heapKiB),
          errs(w),
        ]),
      ],
    ),
    '',
    ...(r.skippedPending.length
      ? [
          `skipped pending targets ${r.skippedPending.map(thousands).join(', ')}: the one before was not reached within the deadline (at most creation rate × ${r.timings.MALIPO_STK_DEADLINE_SECONDS} s can be pending at once).`,
        ]
      : []),
    `worker process: ${r.memory.workerProcess}; memory after a full GC, growth over the first row ÷ open stkPush workflows at the window's end. Seeded ${r.seeded.rows} rows at ${f1(r.seeded.rowsPerSecond, 0)} rows/s; whole run ${f1(r.wallSeconds, 0)} s.`,
  ];
  return out.join('\n');
}

/** Four panels: payments/s, CPU per payment, list p99 by filter, and worker memory, against the work carried. */
export function growthSvg(r: GrowthResult): string {
  const rows = r.windows.filter((w) => w.phase === 'rows');
  const pending = r.windows.filter((w) => w.phase === 'pending');
  const byRows = (pick: (w: GrowthWindow) => number): Array<[number, number]> =>
    rows.map((w) => [w.rows, pick(w)]);
  // payments/s and CPU by the pending payments a window started with; memory by the open workflows at its end
  const byPending = (pick: (w: GrowthWindow) => number): Array<[number, number]> =>
    pending.map((w): [number, number] => [w.pendingAtStart, pick(w)]).sort((a, b) => a[0] - b[0]);
  const byOpen = (pick: (w: GrowthWindow) => number): Array<[number, number]> =>
    pending
      .map((w): [number, number] => [w.openWorkflows ?? w.pendingAtEnd, pick(w)])
      .sort((a, b) => a[0] - b[0]);
  const size = { width: 560, height: 330 };
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#7f7f7f'];
  const filterNames = [...new Set(rows.flatMap((w) => Object.keys(w.list)))];
  const panels = [
    latencyChartSvg(
      [
        { name: 'by rows in DB', color: colors[0] as string, points: byRows((w) => w.completedPerSecond) },
        {
          name: 'by pending',
          color: colors[1] as string,
          dashed: true,
          points: byPending((w) => w.completedPerSecond),
        },
      ],
      {
        ...size,
        title: 'payments/s (closed loop)',
        xLabel: 'payments in the database / pending',
        yLabel: 'payments/s',
        xScale: 'log',
      },
    ),
    latencyChartSvg(
      [
        {
          name: 'Malipo, by rows',
          color: colors[0] as string,
          points: byRows((w) => w.cpuMsPerPayment.malipo),
        },
        {
          name: 'server, by rows',
          color: colors[2] as string,
          points: byRows((w) => w.cpuMsPerPayment.server),
        },
        {
          name: 'Malipo, by pending',
          color: colors[0] as string,
          dashed: true,
          points: byPending((w) => w.cpuMsPerPayment.malipo),
        },
        {
          name: 'server, by pending',
          color: colors[2] as string,
          dashed: true,
          points: byPending((w) => w.cpuMsPerPayment.server),
        },
      ],
      {
        ...size,
        title: 'CPU ms per payment',
        xLabel: 'payments in the database / pending',
        yLabel: 'CPU ms',
        xScale: 'log',
      },
    ),
    latencyChartSvg(
      filterNames.map((name, i) => ({
        name,
        color: colors[i % colors.length] as string,
        points: byRows((w) => w.list[name]?.p99 ?? Number.NaN),
      })),
      {
        ...size,
        title: 'GET /v1/payments p99',
        xLabel: 'payments in the database',
        yLabel: 'ms',
        xScale: 'log',
      },
    ),
    latencyChartSvg(
      [
        {
          name: 'worker RSS',
          color: colors[3] as string,
          points: [[0, r.memory.baseline.rssMiB], ...byOpen((w) => w.worker.rssMiB)],
        },
        {
          name: 'V8 heap',
          color: colors[4] as string,
          points: [[0, r.memory.baseline.heapMiB], ...byOpen((w) => w.worker.heapMiB)],
        },
      ],
      {
        ...size,
        title: 'worker memory after GC',
        xLabel: 'open stkPush workflows (pending, or past the deadline)',
        yLabel: 'MiB',
      },
    ),
  ];
  const width = size.width * 2;
  const height = size.height * 2 + 30;
  const placed = panels.map((p, i) =>
    p.replace('<svg ', `<svg x="${(i % 2) * size.width}" y="${30 + Math.floor(i / 2) * size.height}" `),
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">
<rect width="${width}" height="${height}" fill="#fff"/>
<text x="12" y="20" font-size="15" font-weight="bold">Malipo: cost as work grows (${r.database}, ${r.machine.cpus} CPUs)</text>
${placed.join('')}</svg>
`;
}
