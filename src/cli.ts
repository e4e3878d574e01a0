/** `malipo dev | api | worker | sandbox | admin …`: the command line, and nothing but wiring. */
import { Command } from 'commander';
import { registerAdminCommands } from './admin/cli';
import { loadConfigOrExit } from './config';
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
  }
  lines.push('', '  Ctrl-C stops everything.', '');
  return lines.join('\n');
}

export function buildCli(): Command {
  const program = new Command('malipo').description('Self-hostable M-Pesa payment gateway on Temporal');

  program
    .command('dev')
    .description('start everything in one process tree: Temporal dev server, worker, API (and the sandbox)')
    .action(async () => {
      const config = loadConfigOrExit();
      const running = await start(config, {
        api: true,
        worker: true,
        embeddedTemporal: true,
        devBootstrap: true,
      });
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

  registerAdminCommands(program);

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
