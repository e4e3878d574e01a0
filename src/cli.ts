/** `malipo dev | api | worker | sandbox | admin …`: the command line, and nothing but wiring. */
import { Command } from 'commander';
import { loadConfigOrExit } from './config';
import { type Running, start, stopOnSignals } from './runtime';

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
  lines.push(`  Data         ${r.config.dataDir}`, '', '  Ctrl-C stops everything.', '');
  return lines.join('\n');
}

export function buildCli(): Command {
  const program = new Command('malipo').description('Self-hostable M-Pesa payment gateway on Temporal');

  program
    .command('dev')
    .description('start everything in one process tree: Temporal dev server, worker, API (and the sandbox)')
    .action(async () => {
      const config = loadConfigOrExit();
      const running = await start(config, { api: true, worker: true, embeddedTemporal: true });
      stopOnSignals(running);
      process.stdout.write(banner(running));
    });

  program
    .command('api')
    .description('run the HTTP API only (needs TEMPORAL_ADDRESS)')
    .action(async () => {
      const config = loadConfigOrExit();
      const running = await start(config, { api: true, worker: false, embeddedTemporal: false });
      stopOnSignals(running);
      running.logger.info({ url: running.url }, 'api listening');
    });

  program
    .command('worker')
    .description('run the Temporal worker only (needs TEMPORAL_ADDRESS)')
    .action(async () => {
      const config = loadConfigOrExit();
      const running = await start(config, { api: false, worker: true, embeddedTemporal: false });
      stopOnSignals(running);
      running.logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE }, 'worker running');
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
