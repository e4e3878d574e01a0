/** Runs the Temporal CLI dev server (SQLite file, embedded UI) as a child process and stops it cleanly. */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../domain/search-attributes';
import { requireTool, TEMPORAL_CLI } from './tools';

export interface DevServerOptions {
  /** SQLite file; its directory is created. */
  dbFile: string;
  port: number;
  /** UI port, or null for a headless server. */
  uiPort: number | null;
  namespace?: string;
  ip?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Called with each line the server prints (it logs at warn by default). */
  onOutput?: (line: string) => void;
  readyTimeoutMs?: number;
}

export interface DevServer {
  address: string;
  uiUrl: string | null;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function devServerArgs(opts: DevServerOptions): string[] {
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    opts.dbFile,
    '--port',
    String(opts.port),
    '--ip',
    opts.ip ?? '127.0.0.1',
    '--log-level',
    opts.logLevel ?? 'warn',
    // WAL lets readers and the writer overlap; NORMAL survives a killed process (not a power cut).
    '--sqlite-pragma',
    'journal_mode=WAL',
    '--sqlite-pragma',
    'synchronous=NORMAL',
  ];
  if (opts.uiPort === null) args.push('--headless');
  else args.push('--ui-port', String(opts.uiPort), '--ui-ip', opts.ip ?? '127.0.0.1');
  if (opts.namespace && opts.namespace !== 'default') args.push('--namespace', opts.namespace);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES))
    args.push('--search-attribute', `${name}=${type}`);
  return args;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const bin = requireTool(TEMPORAL_CLI);
  fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
  const child = spawn(bin, devServerArgs(opts), { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const onData = (buf: Buffer) => {
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      output.push(line);
      if (output.length > 50) output.shift();
      opts.onOutput?.(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
  });

  const address = `${opts.ip ?? '127.0.0.1'}:${opts.port}`;
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
    await exit;
    clearTimeout(timer);
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) {
      throw new Error(`the Temporal dev server exited during start:\n${output.join('\n')}`);
    }
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await conn.workflowService.getSystemInfo({});
      } finally {
        await conn.close();
      }
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`the Temporal dev server did not answer on ${address}: ${String(err)}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    address,
    uiUrl: opts.uiPort === null ? null : `http://${opts.ip ?? '127.0.0.1'}:${opts.uiPort}`,
    process: child,
    stop,
  };
}
