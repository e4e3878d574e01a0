/**
 * The benchmark's Daraja simulator, in a process of its own so that its work is not counted (and
 * does not compete on the event loop) as Malipo's. Started by the bench stack; prints
 * `simulator ready <url>` once it listens, and stops on SIGTERM.
 *
 *   node --import tsx src/bench/simulator-process.ts '{"phones":["254722000000"]}'
 */
import { startSandboxServer } from '../sandbox';

async function main(): Promise<void> {
  const { phones } = JSON.parse(process.argv[2] ?? '{}') as { phones?: string[] };
  const server = await startSandboxServer({
    port: 0,
    // the customer pays at once and the callback goes out at once
    callbackDelayMs: 0,
    // any phone outside the scenario table waits for its handset: keep held prompts open past the run
    promptTimeoutMs: 6 * 3600_000,
  });
  for (const phone of phones ?? []) server.sandbox.state.setPhoneOutcome(phone, { resultCode: 0 });
  process.stdout.write(`simulator ready ${server.url}\n`);
  process.once('SIGTERM', () => {
    void server.close().finally(() => process.exit(0));
  });
}

main().catch((err) => {
  process.stderr.write(`simulator failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
