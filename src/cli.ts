/** `malipo dev | api | worker | sandbox | admin …`: the command line, and nothing but wiring. */
import { Command } from 'commander';
import { registerAdminCommands } from './admin/cli';
import { runChaos } from './chaos/run';
import { type BenchOptions, runBench } from './bench';
import { type DashboardBenchOptions, runDashboardBench } from './bench/dashboard';
import { type GrowthOptions, rerenderGrowth, runGrowthBench } from './bench/growth';
import { type Config, loadConfigOrExit } from './config';
import { developmentModeDecision } from './dev-host';
import { createLogger, type Logger } from './logger';
import { ensureIdempotencySweepSchedule } from './payments/idempotency-sweep';
import { type Running, start, stopOnSignals } from './runtime';
import { startSandboxServer } from './sandbox';

function banner(r: Running): string {
  const lines = [
    '',
    `  Malipo is running (${r.config.MALIPO_MODE} mode)`,
    '',
    `  API          ${r.url ?? '(not started)'}`,
    `  Health       ${r.url}/healthz   ${r.url}/readyz`,
    `  Temporal     ${r.temporalAddress}${r.devServer ? ' (embedded dev server)' : ''}`,
  ];
  if (r.devServer?.uiUrl) lines.push(`  Temporal UI  ${r.devServer.uiUrl}`);
  if (r.url) lines.push(`  API docs     ${r.url}/docs`);
  if (r.url) lines.push(`  Dashboard    ${r.url}/dashboard`);
  lines.push(`  Data         ${r.config.dataDir}`);
  const dev = r.devCredentials;
  if (dev) {
    lines.push(
      '',
      `  Test key     ${dev.apiKey}   (all scopes, merchant ${dev.merchantId})`,
      `  Channel      ${dev.channelId} (simulator, default)`,
      `  Saved in     ${r.config.dataDir}/dev-credentials.json`,
      '',
      '  Try it:',
      `  ${dev.curl}`,
    );
    if (dev.dashboardSignInUrl) {
      lines.push(
        '',
        `  Sign in      ${dev.dashboardSignInUrl}`,
        `               (one-time link for ${dev.dashboardEmail ?? 'the demo owner'}, valid 15 minutes; a new one at each start)`,
      );
    }
    if (dev.paymentLinkUrl) {
      lines.push(
        '',
        `  Pay page     ${dev.paymentLinkUrl}   (demo payment link, KES 10)`,
        `  Handset      ${dev.handsetUrl ?? `${r.config.publicUrl}/sandbox/phone/254708374149`}`,
        '               0708374149 pays at once; any other 07… number waits for you on /sandbox/phone/<2547…>',
      );
    }
  }
  lines.push('', '  Ctrl-C stops everything.', '');
  return lines.join('\n');
}

/**
 * The config and logger of a long-running command, or exit 2 when development mode would listen on a
 * non-loopback HOST; in development mode the first log line is a loud warning.
 */
function serverStart(): { config: Config; logger: Logger } {
  const config = loadConfigOrExit();
  const decision = developmentModeDecision(config);
  if (!decision.start) {
    process.stderr.write(`malipo: ${decision.message}\n`);
    process.exit(2);
  }
  const logger = createLogger(config.LOG_LEVEL);
  if (decision.warning) logger.warn({ mode: config.MALIPO_MODE, host: config.HOST }, decision.warning);
  return { config, logger };
}

/** A worker's housekeeping at start: the idempotency-key sweep schedule (a failure is logged, not fatal). */
async function ensureSchedules(running: Running): Promise<void> {
  try {
    const outcome = await ensureIdempotencySweepSchedule(running.temporal, {
      taskQueue: running.config.TEMPORAL_TASK_QUEUE,
    });
    running.logger.info({ schedule: 'idempotency-sweep', outcome }, 'schedule ensured');
  } catch (err) {
    running.logger.error({ err, schedule: 'idempotency-sweep' }, 'could not ensure the schedule');
  }
}

export function buildCli(): Command {
  const program = new Command('malipo').description('Self-hostable M-Pesa payment gateway on Temporal');

  program
    .command('dev')
    .description('start everything in one process tree: Temporal dev server, worker, API (and the sandbox)')
    .action(async () => {
      const { config, logger } = serverStart();
      const running = await start(config, {
        api: true,
        worker: true,
        embeddedTemporal: true,
        devBootstrap: true,
        logger,
      });
      stopOnSignals(running);
      await ensureSchedules(running);
      process.stdout.write(banner(running));
    });

  program
    .command('api')
    .description('run the HTTP API only (needs TEMPORAL_ADDRESS)')
    .action(async () => {
      const { config, logger } = serverStart();
      const running = await start(config, { api: true, worker: false, embeddedTemporal: false, logger });
      stopOnSignals(running);
      running.logger.info({ url: running.url }, 'api listening');
    });

  program
    .command('worker')
    .description('run the Temporal worker only (needs TEMPORAL_ADDRESS)')
    .action(async () => {
      const { config, logger } = serverStart();
      const running = await start(config, { api: false, worker: true, embeddedTemporal: false, logger });
      stopOnSignals(running);
      await ensureSchedules(running);
      running.logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE }, 'worker running');
    });

  registerAdminCommands(program);

  const bench = program
    .command('bench')
    .description(
      'measure payments/s, latency and cost on an isolated local stack, against the bare-Temporal floor',
    )
    .option('--quick', 'short run (under 3 minutes): 5 s per rate, 1,000 held payments')
    .option('--rates <list>', 'open-loop rates in payments/s, comma-separated', '10,25,50,100')
    .option('--duration <s>', 'seconds per open-loop rate (default 20; 5 with --quick)')
    .option('--closed-duration <s>', 'seconds of the closed-loop run (default 30; 10 with --quick)')
    .option('--concurrency <n>', 'closed-loop concurrency', '32')
    .option('--hold <n>', 'pending payments in the holding test (default 10000; 1000 with --quick)')
    .option('--hold-seconds <s>', 'how long they are held (default 30; 10 with --quick)')
    .option('--no-floor-rates', 'skip the bare workflow at the open-loop rates')
    .option('--database-url <url>', 'PostgreSQL instead of PGlite (a fresh, empty database)')
    .option('--worker <json>', 'worker options as JSON, e.g. \'{"maxCachedWorkflows":2000}\'')
    .option('--label <text>', 'a label stored in the JSON result')
    .option('--profile <dir>', "write V8 CPU profiles of Malipo's processes there (open in Chrome DevTools)")
    .option('--out <dir>', 'results directory (default bench/results)')
    .action(async (o: BenchOptions) => {
      await runBench(o);
      process.exit(0);
    });
  bench
    .command('dashboard')
    .description(
      "the dashboard's page weight, and its speed over one merchant's 10,000 payments (in chromium too)",
    )
    .option('--database-url <url>', 'PostgreSQL instead of PGlite (a fresh, empty database)')
    .option('--payments <n>', 'payments seeded for the merchant', '10000')
    .option('--requests <n>', 'timed server requests per route, after 5 warm-up ones', '30')
    .option('--loads <n>', 'timed chromium loads of the overview, after 1 warm-up', '10')
    .option('--label <text>', 'a label stored in the JSON result')
    .option('--out <file>', 'JSON result (default bench/results/dashboard-latest.json)')
    .action(async (_o: DashboardBenchOptions, cmd: Command) => {
      // `bench` has --database-url, --label and --out too: commander may give them to the parent
      await runDashboardBench(cmd.optsWithGlobals<DashboardBenchOptions>());
      process.exit(0);
    });
  bench
    .command('growth')
    .description(
      'payments/s, CPU and list latency with 1k/10k/100k payments stored and 1k/5k/10k pending at the default deadline',
    )
    .option('--quick', 'smaller run: 1k and 10k stored, 200 and 1,000 pending, 8 s windows')
    .option('--sizes <list>', 'payments in the database, comma-separated (default 1000,10000,100000)')
    .option('--pending <list>', 'pending payments, comma-separated (default 1000,5000,10000)')
    .option('--seconds <s>', 'seconds of each closed-loop window (default 20; 8 with --quick)')
    .option('--requests <n>', 'timed GET /v1/payments per filter and size (default 200; 50 with --quick)')
    .option('--database-url <url>', 'PostgreSQL instead of PGlite (a fresh, empty database)')
    .option('--label <text>', 'a label stored in the JSON result')
    .option('--out <dir>', 'results directory (default bench/results)')
    .option('--render <json>', 'no run: redraw the table and plot of a saved result into --out')
    .action(async (_o: GrowthOptions, cmd: Command) => {
      // `bench` has --quick, --concurrency, --database-url, --label and --out too (see above)
      const o = cmd.optsWithGlobals<GrowthOptions & { render?: string }>();
      if (o.render) {
        process.stdout.write(`${rerenderGrowth(o.render, o.out)}\n`);
        process.exit(0);
      }
      await runGrowthBench(o);
      process.exit(0);
    });

  program
    .command('sandbox')
    .description('run the Daraja simulator alone (Daraja paths at the root, handset pages under /sandbox)')
    .option('--port <port>', 'port to listen on', '4010')
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--seed <seed>', 'seed of the random source, for repeatable runs')
    .action(async (o: { port: string; host: string; seed?: string }) => {
      const server = await startSandboxServer({
        port: Number(o.port),
        host: o.host,
        ...(o.seed !== undefined ? { seed: Number(o.seed) } : {}),
      });
      process.stdout.write(
        `Daraja simulator on ${server.url}\n  OAuth   ${server.url}/oauth/v1/generate?grant_type=client_credentials\n  Handset ${server.url}/sandbox/phone/254708374149\n  Ledger  ${server.url}/sandbox/__sandbox/ledger\n`,
      );
      const stop = () => {
        server.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });

  program
    .command('chaos')
    .description(
      'drive payments, payouts and C2B payments through faults, forged callbacks and SIGKILLs, then check the invariants',
    )
    .option('--payments <n>', 'payments to drive', '2000')
    .option('--payouts <n>', 'B2C payouts to drive beside the payments', '200')
    .option('--c2b <n>', 'C2B customer payments to drive beside the payments', '200')
    .option(
      '--database-url <url>',
      'PostgreSQL server to create the run database on (default: a throwaway one)',
    )
    .option('--workers <n>', 'worker processes', '1')
    .option('--apis <n>', 'API processes', '1')
    .option('--worker-kills <n>', 'SIGKILLs of a worker', '3')
    .option('--api-kills <n>', 'SIGKILLs of an API', '2')
    .option('--temporal-restarts <n>', 'restarts of the Temporal dev server', '1')
    .option('--concurrency <n>', 'payments in flight', '40')
    .option('--deadline-seconds <n>', 'MALIPO_STK_DEADLINE_SECONDS for the run', '60')
    .option('--seed <n>', 'simulator seed', String(Date.now() % 1_000_000))
    .option(
      '--reconcile',
      'go on until every review has been reconciled (schedule compressed ×0.0002) and report needs_review before and after',
    )
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const r = await runChaos({
        payments: Number(o.payments),
        payouts: Number(o.payouts),
        c2b: Number(o.c2b),
        databaseUrl: typeof o.databaseUrl === 'string' ? o.databaseUrl : undefined,
        workers: Number(o.workers),
        apis: Number(o.apis),
        workerKills: Number(o.workerKills),
        apiKills: Number(o.apiKills),
        temporalRestarts: Number(o.temporalRestarts),
        concurrency: Number(o.concurrency),
        deadlineSeconds: Number(o.deadlineSeconds),
        seed: Number(o.seed),
        reconcile: o.reconcile === true,
      });
      process.stdout.write(`${r.table}\n`);
      for (const v of r.violations.slice(0, 50)) process.stdout.write(`  violation: ${v}\n`);
      process.stdout.write(`violations: ${r.violations.length}\n`);
      process.exit(r.violations.length === 0 ? 0 : 1);
    });

  return program;
}

if (require.main === module || process.argv[1]?.endsWith('bin/malipo')) {
  buildCli()
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      process.stderr.write(`malipo: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}
