/**
 * `malipo bench`: what one machine carries, against the bare-Temporal floor in the same run.
 * See docs/performance.md for the workloads, the measures and how to read them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { PROJECT_ROOT } from '../temporal/tools';
import { historyOf, historyOrNone } from './history';
import { closedLoop, errorKind, JsonClient, type LoadResult, type Operation, openLoop } from './load';
import { Progress } from './progress';
import { ResourceSampler } from './proc';
import { type BenchStack, FLOOR_TASK_QUEUE, HOLD_SETTINGS, startBenchStack } from './stack';
import { type ActionCount, countActions, type LatencySummary, mean, ratio, summarize } from './stats';
import { latencyChartSvg } from './svg';

export interface BenchOptions {
  quick?: boolean;
  rates?: string;
  duration?: string;
  closedDuration?: string;
  concurrency?: string;
  hold?: string;
  holdSeconds?: string;
  databaseUrl?: string;
  out?: string;
  floorRates?: boolean;
  /** JSON of worker options (maxCachedWorkflows, maxConcurrentWorkflowTaskExecutions, …). */
  worker?: string;
  label?: string;
  /** Write V8 CPU profiles of Malipo's processes to this directory. */
  profile?: string;
}

export interface WorkloadResult {
  name: string;
  system: 'malipo' | 'floor-workflow' | 'floor-express';
  mode: 'open' | 'closed' | 'hold';
  offeredPerSecond: number | null;
  concurrency: number | null;
  durationS: number;
  attempted: number;
  completed: number;
  completedPerSecond: number;
  post: LatencySummary;
  e2e: LatencySummary;
  errors: Record<string, number>;
  cpu: {
    malipoSeconds: number;
    serverSeconds: number;
    malipoMsPerPayment: number;
    serverMsPerPayment: number;
    /** The rest of the machine: the simulator, and the bench's own process (load generator, receiver). */
    simulatorMsPerPayment: number;
    benchMsPerPayment: number;
  };
  /** malipo: Malipo's processes summed; worker: the process that runs the worker. */
  peakRssMiB: { malipo: number; worker: number; server: number };
  /** Database round trips of the Malipo process per completed payment (0 for the floors' own work). */
  dbQueriesPerPayment: number;
}

const PAYING_PHONE = '254708374149';
const MiB = 1024 * 1024;

function num(v: string | undefined, def: number, what: string): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${what} must be a positive number`);
  return n;
}

export async function runBench(o: BenchOptions): Promise<void> {
  const quick = Boolean(o.quick);
  const rates = (o.rates ?? '10,25,50,100').split(',').map((r) => num(r.trim(), 1, 'rates'));
  const durationMs = num(o.duration, quick ? 5 : 20, 'duration') * 1000;
  const closedMs = num(o.closedDuration, quick ? 10 : 30, 'closed-duration') * 1000;
  const concurrency = num(o.concurrency, 32, 'concurrency');
  const holdN = num(o.hold, quick ? 1000 : 10_000, 'hold');
  const holdMs = num(o.holdSeconds, quick ? 10 : 30, 'hold-seconds') * 1000;
  const floorOpen = o.floorRates ?? true;
  const floorOpenMs = quick ? 4000 : durationMs;
  const outDir = path.resolve(o.out ?? path.join(PROJECT_ROOT, 'bench', 'results'));
  const tuning = o.worker ? (JSON.parse(o.worker) as Record<string, number>) : undefined;
  const wallStart = Date.now();
  const progress = new Progress();
  const loadBefore = os.loadavg();

  try {
    // the SDK's own logs (worker state changes) would drown the progress bar
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed in this process
  }
  let stack: BenchStack | undefined;
  const client = new JsonClient();
  try {
    stack = await startBenchStack({
      databaseUrl: o.databaseUrl,
      ...(tuning ? { tuning } : {}),
      ...(o.profile ? { profileDir: path.resolve(o.profile) } : {}),
      onStep: (s) => progress.note(s),
    });
    const s = stack;
    const sampler = new ResourceSampler(s.sampledPids());
    sampler.start();
    let queriesAtWindow = (await s.dbQueries()).total;
    const queryWindow = async () => {
      const total = (await s.dbQueries()).total;
      const n = total - queriesAtWindow;
      queriesAtWindow = total;
      return n;
    };
    const statementSnapshot = async () => (await s.dbQueries()).byStatement;
    const auth = { authorization: `Bearer ${s.key}` };
    const webhookTimeoutMs = quick ? 20_000 : 30_000;
    let refSeq = 0;

    const pay =
      (phone: () => string, waitWebhook: boolean): Operation =>
      async () => {
        const reference = `b${(refSeq++).toString(36)}`;
        const t0 = performance.now();
        let r: { status: number; json: unknown };
        try {
          r = await client.post(
            `${s.url}/v1/payments/stk-push`,
            { phone: phone(), amount: 10, reference },
            auth,
          );
        } catch (err) {
          return { ok: false, endAt: performance.now(), error: `post:${errorKind(err)}`, reference };
        }
        const postMs = performance.now() - t0;
        const body = r.json as { id?: string; status?: string } | undefined;
        if (r.status !== 202 || !body?.id) {
          return { ok: false, postMs, endAt: performance.now(), error: `http_${r.status}`, reference };
        }
        if (!waitWebhook)
          return { ok: true, postMs, endAt: performance.now(), paymentId: body.id, reference };
        if (body.status === 'failed') {
          return { ok: false, postMs, endAt: performance.now(), error: 'payment_failed', paymentId: body.id };
        }
        try {
          const d = await s.waitForWebhook(body.id, webhookTimeoutMs);
          return {
            ok: true,
            postMs,
            e2eMs: d.at - t0,
            endAt: d.at,
            paymentId: body.id,
            eventId: d.eventId,
            reference,
          };
        } catch (err) {
          return {
            ok: false,
            postMs,
            endAt: performance.now(),
            error: errorKind(err),
            paymentId: body.id,
            reference,
          };
        }
      };
    const payNow = pay(() => s.payingPhone(), true);

    let floorSeq = 0;
    const floorOp: Operation = async () => {
      const t0 = performance.now();
      try {
        const h = await s.temporal.workflow.start('benchFloor', {
          taskQueue: FLOOR_TASK_QUEUE,
          workflowId: `floor-${floorSeq++}`,
        });
        const postMs = performance.now() - t0;
        await h.result();
        const endAt = performance.now();
        return { ok: true, postMs, e2eMs: endAt - t0, endAt };
      } catch (err) {
        return { ok: false, endAt: performance.now(), error: errorKind(err) };
      }
    };
    const expressOp: Operation = async () => {
      const t0 = performance.now();
      try {
        const r = await client.post(`${s.expressUrl}/pay`, {
          phone: PAYING_PHONE,
          amount: 10,
          reference: 'x',
        });
        const endAt = performance.now();
        if (r.status !== 202) return { ok: false, endAt, error: `http_${r.status}` };
        return { ok: true, postMs: endAt - t0, e2eMs: endAt - t0, endAt };
      } catch (err) {
        return { ok: false, endAt: performance.now(), error: errorKind(err) };
      }
    };

    const workloads: WorkloadResult[] = [];
    const allSamples: Array<{ system: string; samples: LoadResult['samples'] }> = [];
    const record = async (
      name: string,
      system: WorkloadResult['system'],
      mode: WorkloadResult['mode'],
      r: LoadResult,
      extra: { offered?: number; concurrency?: number },
    ): Promise<WorkloadResult> => {
      const res = sampler.window();
      const queries = await queryWindow();
      const ok = r.samples.filter((x) => x.ok);
      const errors: Record<string, number> = {};
      for (const x of r.samples)
        if (!x.ok) errors[x.error ?? 'unknown'] = (errors[x.error ?? 'unknown'] ?? 0) + 1;
      const secs = Math.max(0.001, (r.endedAt - r.startedAt) / 1000);
      const w: WorkloadResult = {
        name,
        system,
        mode,
        offeredPerSecond: extra.offered ?? null,
        concurrency: extra.concurrency ?? null,
        durationS: secs,
        attempted: r.attempted,
        completed: ok.length,
        completedPerSecond: ok.length / secs,
        post: summarize(r.samples.flatMap((x) => (x.postMs === undefined ? [] : [x.postMs]))),
        e2e: summarize(ok.flatMap((x) => (x.e2eMs === undefined ? [] : [x.e2eMs]))),
        errors,
        cpu: {
          malipoSeconds: res.malipoCpuS,
          serverSeconds: res.serverCpuS,
          malipoMsPerPayment: ok.length ? (res.malipoCpuS * 1000) / ok.length : Number.NaN,
          serverMsPerPayment: ok.length ? (res.serverCpuS * 1000) / ok.length : Number.NaN,
          simulatorMsPerPayment: ok.length ? (res.simulatorCpuS * 1000) / ok.length : Number.NaN,
          benchMsPerPayment: ok.length ? (res.benchCpuS * 1000) / ok.length : Number.NaN,
        },
        peakRssMiB: {
          malipo: res.malipoPeakRss / MiB,
          worker: res.workerPeakRss / MiB,
          server: res.serverPeakRss / MiB,
        },
        dbQueriesPerPayment: ok.length ? queries / ok.length : Number.NaN,
      };
      workloads.push(w);
      allSamples.push({ system, samples: r.samples });
      return w;
    };
    const settle = async () => {
      // let the previous workload's stragglers (webhook workflows closing) finish before measuring
      await new Promise((r) => setTimeout(r, 1000));
      sampler.window();
      await queryWindow();
    };
    const brief = (w: WorkloadResult) =>
      `${w.completed}/${w.attempted} ok, ${w.completedPerSecond.toFixed(1)}/s, POST p99 ${fmtMs(w.post.p99)}, e2e p99 ${fmtMs(w.e2e.p99)}`;

    // warm-up: JIT, token cache, sticky caches, SQLite pages (not reported)
    progress.phase('warm-up', 20);
    await closedLoop(4, 60_000, payNow, progress, 20);
    await closedLoop(4, 60_000, floorOp, progress, 20);
    progress.done('done');
    await settle();

    // A rate the system completes at under half its offer is saturated: higher rates would only
    // queue (and take minutes to drain), so they are skipped and listed as such.
    const skipped: string[] = [];
    const saturated = (w: WorkloadResult) => w.completedPerSecond < 0.5 * (w.offeredPerSecond ?? 0);
    for (const [i, rate] of rates.entries()) {
      progress.phase(`malipo open ${rate}/s`, Math.round((rate * durationMs) / 1000));
      const r = await openLoop(rate, durationMs, payNow, progress);
      const w = await record(`malipo open ${rate}/s`, 'malipo', 'open', r, { offered: rate });
      progress.done(brief(w));
      await settle();
      if (saturated(w)) {
        skipped.push(...rates.slice(i + 1).map((x) => `malipo open ${x}/s`));
        break;
      }
    }
    progress.phase(`malipo closed c=${concurrency}`, closedMs / 1000);
    const statementsBefore = await statementSnapshot();
    const closedRun = await closedLoop(concurrency, closedMs, payNow, progress);
    const malipoClosed = await record(`malipo closed c=${concurrency}`, 'malipo', 'closed', closedRun, {
      concurrency,
    });
    // Which statements a payment costs (closed loop; webhook stragglers may add a few).
    const dbStatements = [...(await statementSnapshot())]
      .map(([statement, v]) => {
        const b = statementsBefore.get(statement) ?? { count: 0, ms: 0 };
        return {
          statement,
          perPayment: (v.count - b.count) / Math.max(1, malipoClosed.completed),
          ms: v.ms - b.ms,
        };
      })
      .filter((x) => x.perPayment > 0)
      .sort((a, b) => b.perPayment - a.perPayment);
    // every transaction opens with one `begin` round trip
    const transactionsPerPayment = dbStatements.find((x) => x.statement === 'begin')?.perPayment ?? 0;
    dbStatements.splice(15);
    progress.done(brief(malipoClosed));
    await settle();

    progress.phase(`floor workflow closed c=${concurrency}`, closedMs / 1000);
    const floorClosed = await record(
      `floor workflow closed c=${concurrency}`,
      'floor-workflow',
      'closed',
      await closedLoop(concurrency, closedMs, floorOp, progress),
      { concurrency },
    );
    progress.done(brief(floorClosed));
    await settle();
    if (floorOpen) {
      for (const [i, rate] of rates.entries()) {
        progress.phase(`floor workflow open ${rate}/s`, Math.round((rate * floorOpenMs) / 1000));
        const r = await openLoop(rate, floorOpenMs, floorOp, progress);
        const w = await record(`floor workflow open ${rate}/s`, 'floor-workflow', 'open', r, {
          offered: rate,
        });
        progress.done(brief(w));
        await settle();
        if (saturated(w)) {
          skipped.push(...rates.slice(i + 1).map((x) => `floor workflow open ${x}/s`));
          break;
        }
      }
    }
    progress.phase(`floor express closed c=${concurrency}`, 5);
    const expressClosed = await record(
      `floor express closed c=${concurrency}`,
      'floor-express',
      'closed',
      await closedLoop(concurrency, 5000, expressOp, progress),
      { concurrency },
    );
    progress.done(brief(expressClosed));

    // History size and billable actions of a sample of successful payments.
    progress.note('fetching histories of a sample of payments');
    const okClosed = closedRun.samples.filter((x) => x.ok && x.paymentId && x.eventId);
    const sample = pick(okClosed, 20);
    const perPayment: Array<{
      workflows: number;
      stkEvents: number;
      whkEvents: number;
      stk: ActionCount;
      whk: ActionCount;
    }> = [];
    const historyErrors: string[] = [];
    for (const x of sample) {
      try {
        const stkEvents = await historyOf(s.temporal, x.paymentId!);
        // a delivery whose first attempt succeeded inline has no workflow of its own
        const whkEvents = await historyOrNone(s.temporal, `whk:${x.eventId}:${s.endpointId}`);
        perPayment.push({
          workflows: 1 + (whkEvents.length > 0 ? 1 : 0),
          stkEvents: stkEvents.length,
          whkEvents: whkEvents.length,
          stk: countActions(stkEvents),
          whk: countActions(whkEvents),
        });
      } catch (err) {
        historyErrors.push(errorKind(err));
      }
    }
    const floorEvents = await historyOf(s.temporal, 'floor-0').catch(() => []);
    const actionKinds: Record<string, number> = {};
    for (const p of perPayment) {
      for (const [k, v] of Object.entries(p.stk.byKind))
        actionKinds[`stkPush.${k}`] = (actionKinds[`stkPush.${k}`] ?? 0) + v / perPayment.length;
      for (const [k, v] of Object.entries(p.whk.byKind))
        actionKinds[`deliverWebhook.${k}`] =
          (actionKinds[`deliverWebhook.${k}`] ?? 0) + v / perPayment.length;
    }
    const history = {
      sampled: perPayment.length,
      errors: historyErrors,
      stkPushEventsPerPayment: mean(perPayment.map((p) => p.stkEvents)),
      webhookEventsPerPayment: mean(perPayment.map((p) => p.whkEvents)),
      eventsPerPayment: mean(perPayment.map((p) => p.stkEvents + p.whkEvents)),
      workflowsPerPayment: mean(perPayment.map((p) => p.workflows)),
      stkPushActionsPerPayment: mean(perPayment.map((p) => p.stk.total)),
      actionsPerPayment: mean(perPayment.map((p) => p.stk.total + p.whk.total)),
      actionKinds,
      floorEvents: floorEvents.length,
      floorActions: countActions(floorEvents).total,
    };

    // One push per payment, from the simulator's ground truth.
    const ledger = await s.simulator.ledger();
    const created = allSamples
      .filter((a) => a.system === 'malipo')
      .flatMap((a) => a.samples)
      .filter((x) => x.paymentId && x.reference);
    const pushCounts = { payments: created.length, onePush: 0, noPush: 0, morePushes: 0 };
    for (const x of created) {
      const n = ledger.pushesByAccountReference[x.reference!] ?? 0;
      if (n === 1) pushCounts.onePush++;
      else if (n === 0) pushCounts.noPush++;
      else pushCounts.morePushes++;
    }

    // Holding: N payments whose customers never answer, then the worker's RSS and the server's health.
    await settle();
    progress.phase(`hold: creating ${holdN} pending`, holdN);
    let phoneSeq = 0;
    const silentPhone = () => `25471${String(1_000_000 + (phoneSeq++ % 8_999_999)).padStart(7, '0')}`;
    const holdCreate = await closedLoop(concurrency, 30 * 60_000, pay(silentPhone, false), progress, holdN);
    const holdCreated = await record(`hold: create ${holdN}`, 'malipo', 'hold', holdCreate, { concurrency });
    progress.done(
      `${holdCreated.completed} pending, ${holdCreated.completedPerSecond.toFixed(1)}/s, POST p99 ${fmtMs(holdCreated.post.p99)}`,
    );
    progress.phase(`hold: ${holdN} pending for ${holdMs / 1000} s`, holdMs / 1000);
    const sysInfoMs: number[] = [];
    const holdStart = performance.now();
    const health = (async () => {
      while (performance.now() - holdStart < holdMs) {
        const t = performance.now();
        try {
          await s.temporal.connection.workflowService.getSystemInfo({});
          sysInfoMs.push(performance.now() - t);
        } catch {
          sysInfoMs.push(Number.NaN);
        }
        const rss = sampler.workerRss();
        progress.tick((performance.now() - holdStart) / 1000, `RSS ${(rss / MiB).toFixed(0)} MiB`);
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    // meanwhile a light paying load shows the server still serves
    const whileHolding = await closedLoop(4, holdMs, payNow, progress);
    await health;
    const holdPay = await record(`hold: paying c=4 while ${holdN} wait`, 'malipo', 'hold', whileHolding, {
      concurrency: 4,
    });
    const holdRes = sampler.window();
    const okInfo = sysInfoMs.filter(Number.isFinite);
    const hold = {
      pending: holdCreated.completed,
      createErrors: holdCreated.errors,
      createPerSecond: holdCreated.completedPerSecond,
      holdSeconds: holdMs / 1000,
      settings: HOLD_SETTINGS,
      workerProcess: s.malipo.pids.length > 1 ? 'worker alone' : 'API + worker + PGlite in one process',
      /** The worker's process: on PGlite it also holds the API and the database. */
      workerRssMiB: {
        peak: Math.max(holdCreated.peakRssMiB.worker, holdPay.peakRssMiB.worker, holdRes.workerPeakRss / MiB),
        end: sampler.workerRss() / MiB,
      },
      serverRssMiB: Math.max(holdCreated.peakRssMiB.server, holdPay.peakRssMiB.server),
      getSystemInfoMs: summarize(okInfo),
      getSystemInfoFailures: sysInfoMs.length - okInfo.length,
      payingWhileHolding: {
        completedPerSecond: holdPay.completedPerSecond,
        e2eP99: holdPay.e2e.p99,
        errors: holdPay.errors,
      },
    };
    progress.done(
      `worker process RSS peak ${hold.workerRssMiB.peak.toFixed(0)} MiB, getSystemInfo p99 ${fmtMs(hold.getSystemInfoMs.p99)}`,
    );
    sampler.stop();

    // Ratios and targets.
    const floorRatio = ratio(malipoClosed.completedPerSecond, floorClosed.completedPerSecond);
    const at50 = workloads.find(
      (w) => w.system === 'malipo' && w.mode === 'open' && w.offeredPerSecond === 50,
    );
    const result = {
      version: 1,
      label: o.label ?? null,
      startedAt: new Date(wallStart).toISOString(),
      wallSeconds: (Date.now() - wallStart) / 1000,
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        memGiB: os.totalmem() / 1024 ** 3,
        node: process.version,
        loadAverageBefore: loadBefore,
        loadAverageAfter: os.loadavg(),
      },
      options: {
        quick,
        rates,
        durationS: durationMs / 1000,
        closedDurationS: closedMs / 1000,
        concurrency,
        hold: holdN,
        holdSeconds: holdMs / 1000,
        database: o.databaseUrl ? 'postgresql' : 'pglite',
        worker: tuning ?? 'defaults',
      },
      paymentsPerSecond: malipoClosed.completedPerSecond,
      floorRatio,
      floor: {
        workflowPerSecond: floorClosed.completedPerSecond,
        expressPerSecond: expressClosed.completedPerSecond,
        e2eP50Ratio: ratio(malipoClosed.e2e.p50, floorClosed.e2e.p50),
        e2eP99Ratio: ratio(malipoClosed.e2e.p99, floorClosed.e2e.p99),
        postP50RatioToExpress: ratio(malipoClosed.post.p50, expressClosed.post.p50),
      },
      workloads,
      skippedSaturated: skipped,
      history,
      pushes: pushCounts,
      dbStatements,
      transactionsPerPayment,
      badSignatures: s.badSignatures,
      hold,
      targets: {
        paymentsPerSecond100: malipoClosed.completedPerSecond >= 100,
        floorRatio07: floorRatio !== null && floorRatio >= 0.7,
        postP99At50Under50ms: at50 ? at50.post.p99 <= 50 : null,
        e2eP99At50Under150ms: at50 ? at50.e2e.p99 <= 150 : null,
        eventsPerPaymentMax25: history.stkPushEventsPerPayment <= 25,
        holdWorkerUnder1GiB: hold.workerRssMiB.peak < 1024,
        onePushPerPayment: pushCounts.noPush === 0 && pushCounts.morePushes === 0,
      },
    };

    process.stdout.write(renderTable(result));

    fs.mkdirSync(outDir, { recursive: true });
    const stamp = new Date(wallStart).toISOString().replace(/[:.]/g, '-');
    const json = `${JSON.stringify(result, jsonNumbers, 2)}\n`;
    fs.writeFileSync(path.join(outDir, `${stamp}.json`), json);
    fs.writeFileSync(path.join(outDir, 'latest.json'), json);
    fs.writeFileSync(path.join(outDir, 'latency.svg'), chart(workloads));
    progress.note(
      `wrote ${path.relative(process.cwd(), path.join(outDir, 'latest.json'))}, ${stamp}.json and latency.svg`,
    );
  } finally {
    client.close();
    progress.note('stopping');
    await stack?.stop();
  }
}

/** NaN and Infinity become null in the JSON; long decimals are rounded. */
function jsonNumbers(_key: string, v: unknown): unknown {
  if (typeof v !== 'number') return v;
  if (!Number.isFinite(v)) return null;
  return Number.isInteger(v) ? v : Math.round(v * 1000) / 1000;
}

function pick<T>(xs: readonly T[], n: number): T[] {
  if (xs.length <= n) return [...xs];
  const step = xs.length / n;
  return Array.from({ length: n }, (_, i) => xs[Math.floor(i * step)] as T);
}

export function fmtMs(v: number): string {
  if (!Number.isFinite(v)) return '-';
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function fmt(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

type Result = {
  paymentsPerSecond: number;
  floorRatio: number | null;
  floor: {
    workflowPerSecond: number;
    expressPerSecond: number;
    e2eP50Ratio: number | null;
    e2eP99Ratio: number | null;
  };
  workloads: WorkloadResult[];
  skippedSaturated: string[];
  history: {
    sampled: number;
    stkPushEventsPerPayment: number;
    webhookEventsPerPayment: number;
    workflowsPerPayment: number;
    stkPushActionsPerPayment: number;
    actionsPerPayment: number;
    floorEvents: number;
    floorActions: number;
  };
  pushes: { payments: number; onePush: number; noPush: number; morePushes: number };
  /** The Malipo process's statements per closed-loop payment, most frequent first. */
  dbStatements: Array<{ statement: string; perPayment: number; ms: number }>;
  transactionsPerPayment: number;
  badSignatures: number;
  hold: {
    pending: number;
    createPerSecond: number;
    settings: typeof HOLD_SETTINGS;
    workerProcess: string;
    workerRssMiB: { peak: number; end: number };
    serverRssMiB: number;
    getSystemInfoMs: LatencySummary;
  };
  machine: { cpus: number; loadAverageBefore: number[]; loadAverageAfter: number[] };
  targets: Record<string, boolean | null>;
};

export function renderTable(r: Result): string {
  const head = [
    'workload',
    'offered/s',
    'done/s',
    'POST p50',
    'p90',
    'p99',
    'max',
    'e2e p50',
    'p99',
    'errors',
    'CPU ms/pay malipo',
    'server',
    'peak RSS MiB malipo',
    'server',
    'DB queries/pay',
  ];
  const rows = r.workloads.map((w) => [
    w.system === 'malipo' ? w.name : `floor: ${w.name.replace(/^floor /, '')}`,
    w.offeredPerSecond === null ? `c=${w.concurrency}` : String(w.offeredPerSecond),
    fmt(w.completedPerSecond),
    fmtMs(w.post.p50),
    fmtMs(w.post.p90),
    fmtMs(w.post.p99),
    fmtMs(w.post.max),
    fmtMs(w.e2e.p50),
    fmtMs(w.e2e.p99),
    Object.entries(w.errors)
      .map(([k, v]) => `${k}:${v}`)
      .join(' ') || '0',
    fmt(w.cpu.malipoMsPerPayment),
    fmt(w.cpu.serverMsPerPayment),
    fmt(w.peakRssMiB.malipo, 0),
    fmt(w.peakRssMiB.server, 0),
    w.system === 'malipo' ? fmt(w.dbQueriesPerPayment) : '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i === 9 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ');
  const out = [
    '',
    line(head),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
    '',
    ...(r.skippedSaturated.length
      ? [`skipped (the rate before was saturated): ${r.skippedSaturated.join(', ')}`]
      : []),
    'latencies in ms; e2e = POST (or workflow start) to verified payment.success webhook (or workflow result)',
    `closed-loop payments/s: ${fmt(r.paymentsPerSecond)}   floor (bare workflow) ${fmt(r.floor.workflowPerSecond)}/s   floor (bare express) ${fmt(r.floor.expressPerSecond)}/s`,
    ...cpuBudget(r),
    `floor ratio (malipo ÷ bare workflow): throughput ${fmt(r.floorRatio, 2)}   e2e p50 ×${fmt(r.floor.e2eP50Ratio, 2)}   e2e p99 ×${fmt(r.floor.e2eP99Ratio, 2)}`,
    `history per successful payment (${r.history.sampled} sampled): ${fmt(r.history.workflowsPerPayment, 2)} workflows; stkPush ${fmt(r.history.stkPushEventsPerPayment)} events + webhook delivery ${fmt(r.history.webhookEventsPerPayment)}; actions ${fmt(r.history.stkPushActionsPerPayment)} + ${fmt(r.history.actionsPerPayment - r.history.stkPushActionsPerPayment)} = ${fmt(r.history.actionsPerPayment)}   (floor: ${r.history.floorEvents} events, ${r.history.floorActions} actions)`,
    `database round trips of the Malipo process per closed-loop payment: ${fmt(r.workloads.find((w) => w.system === 'malipo' && w.mode === 'closed')?.dbQueriesPerPayment)} in ${fmt(r.transactionsPerPayment)} transactions; most frequent: ${r.dbStatements
      .slice(0, 5)
      .map((x) => `${fmt(x.perPayment)}× ${x.statement.slice(0, 60)}`)
      .join('; ')}`,
    `pushes per payment (simulator ledger): ${r.pushes.onePush}/${r.pushes.payments} exactly one, ${r.pushes.noPush} none, ${r.pushes.morePushes} more; bad webhook signatures ${r.badSignatures}`,
    `hold: ${r.hold.pending} pending (created at ${fmt(r.hold.createPerSecond)}/s; deadline ${r.hold.settings.MALIPO_STK_DEADLINE_SECONDS} s, first STK query after ${r.hold.settings.MALIPO_STK_QUERY_FIRST_SECONDS} s, then at most every ${r.hold.settings.MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS} s); worker RSS (${r.hold.workerProcess}) peak ${fmt(r.hold.workerRssMiB.peak, 0)} MiB, end ${fmt(r.hold.workerRssMiB.end, 0)} MiB; server RSS ${fmt(r.hold.serverRssMiB, 0)} MiB; getSystemInfo p50 ${fmtMs(r.hold.getSystemInfoMs.p50)} p99 ${fmtMs(r.hold.getSystemInfoMs.p99)} ms`,
    `targets: ${Object.entries(r.targets)
      .map(([k, v]) => `${k} ${v === null ? 'n/a' : v ? 'PASS' : 'MISS'}`)
      .join(', ')}`,
    `machine: ${r.machine.cpus} CPUs, load average before ${r.machine.loadAverageBefore.map((x) => x.toFixed(2)).join(' ')}, after ${r.machine.loadAverageAfter.map((x) => x.toFixed(2)).join(' ')}`,
    '',
  ];
  return out.join('\n');
}

/** Where a closed-loop payment's CPU goes on the whole machine, and the ceiling that implies. */
function cpuBudget(r: Result): string[] {
  const closed = r.workloads.find((w) => w.system === 'malipo' && w.mode === 'closed');
  if (!closed) return [];
  const c = closed.cpu;
  const total = c.malipoMsPerPayment + c.serverMsPerPayment + c.simulatorMsPerPayment + c.benchMsPerPayment;
  return [
    `CPU per closed-loop payment, whole machine: malipo ${fmt(c.malipoMsPerPayment)} + server ${fmt(c.serverMsPerPayment)} + simulator ${fmt(c.simulatorMsPerPayment)} + bench (load, receiver) ${fmt(c.benchMsPerPayment)} = ${fmt(total)} ms; ${r.machine.cpus} CPUs → at most ${fmt((r.machine.cpus * 1000) / total)} payments/s`,
  ];
}

function chart(workloads: readonly WorkloadResult[]): string {
  const series = (
    system: WorkloadResult['system'],
    pick: (w: WorkloadResult) => number,
  ): Array<[number, number]> =>
    workloads
      .filter((w) => w.system === system && w.mode === 'open' && w.offeredPerSecond !== null)
      .map((w) => [w.offeredPerSecond ?? 0, pick(w)]);
  return latencyChartSvg(
    [
      { name: 'POST p50', color: '#1f77b4', points: series('malipo', (w) => w.post.p50) },
      { name: 'POST p99', color: '#1f77b4', dashed: true, points: series('malipo', (w) => w.post.p99) },
      { name: 'e2e p50', color: '#d62728', points: series('malipo', (w) => w.e2e.p50) },
      { name: 'e2e p99', color: '#d62728', dashed: true, points: series('malipo', (w) => w.e2e.p99) },
      { name: 'floor e2e p50', color: '#7f7f7f', points: series('floor-workflow', (w) => w.e2e.p50) },
      {
        name: 'floor e2e p99',
        color: '#7f7f7f',
        dashed: true,
        points: series('floor-workflow', (w) => w.e2e.p99),
      },
    ],
    {
      title: 'Malipo latency vs offered load (open loop)',
      guides: [
        { y: 50, label: 'POST p99 target 50 ms' },
        { y: 150, label: 'e2e p99 target 150 ms' },
      ],
    },
  );
}
