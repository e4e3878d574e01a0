/**
 * Child processes for the crash tests and `malipo chaos`: Malipo commands (`api`, `worker`,
 * `sandbox`) run as real processes so they can be SIGKILLed, and a throwaway PostgreSQL server
 * (several processes cannot share PGlite) when none is given.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'src', 'cli.ts');

export interface MalipoProcess {
  name: string;
  child: ChildProcess;
  /** Everything it printed (stdout and stderr), newest last, capped. */
  output: string[];
  /** Resolves when a printed line matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  exited: Promise<number | null>;
}

/** Runs `malipo <args>` (through tsx) with `env` over the current environment. */
export function spawnMalipo(name: string, args: string[], env: Record<string, string>): MalipoProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      output.push(line);
      if (output.length > 2000) output.shift();
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    name,
    child,
    output,
    exited,
    waitFor(re, timeoutMs = 90_000) {
      const seen = output.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(
              `${name}: no line matching ${re} within ${timeoutMs} ms; last output:\n${output.slice(-20).join('\n')}`,
            ),
          );
        }, timeoutMs);
        const w = {
          re,
          resolve: (l: string) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        waiters.push(w);
        void exited.then((code) => {
          if (waiters.includes(w)) {
            clearTimeout(timer);
            reject(
              new Error(`${name} exited (${code}) before printing ${re}:\n${output.slice(-20).join('\n')}`),
            );
          }
        });
      });
    },
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
}

/**
 * The lines any of `procs` printed that mention `needle` (a request id), so a 500 names its cause
 * while the output is still held; waits a moment for the error line to reach the pipe.
 */
export async function linesMentioning(procs: MalipoProcess[], needle: string): Promise<string[]> {
  if (!needle) return [];
  await new Promise((r) => setTimeout(r, 300));
  return procs.flatMap((p) => p.output.filter((l) => l.includes(needle)).map((l) => `${p.name}: ${l}`));
}

export interface Postgres {
  /** A server URL (its `malipo_test`-style maintenance database); create databases on it. */
  url: string;
  stop(): Promise<void>;
}

/** MALIPO_TEST_DATABASE_URL when set; else a throwaway server like scripts/with-postgres; else a clear error. */
export async function postgresServer(given = process.env.MALIPO_TEST_DATABASE_URL): Promise<Postgres> {
  if (given) return { url: given, stop: async () => undefined };
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).sort((a, b) => Number(a) - Number(b)) : [];
  const bin = versions.length ? path.join(base, versions.at(-1) as string, 'bin') : undefined;
  if (!bin || !fs.existsSync(path.join(bin, 'initdb'))) {
    throw new Error(
      'these tests need PostgreSQL (several processes cannot share PGlite): set MALIPO_TEST_DATABASE_URL, or run under scripts/with-postgres, or install the postgresql package',
    );
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'malipo-pg-'));
  const root = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) =>
    root
      ? execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args], { stdio: 'pipe' })
      : execFileSync(path.join(bin, cmd), args, { stdio: 'pipe' });
  if (root) execFileSync('chown', ['postgres:postgres', dir]);
  const port = 55_000 + Math.floor(Math.random() * 5000);
  run('initdb', ['-D', `${dir}/data`, '-U', 'malipo', '--auth=trust', '-E', 'UTF8']);
  run('pg_ctl', [
    '-D',
    `${dir}/data`,
    '-l',
    `${dir}/server.log`,
    '-w',
    '-o',
    `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir} -c fsync=off -c max_connections=300`,
    'start',
  ]);
  const url = `postgres://malipo@127.0.0.1:${port}/postgres`;
  return {
    url,
    stop: async () => {
      try {
        run('pg_ctl', ['-D', `${dir}/data`, '-m', 'immediate', 'stop']);
      } catch {
        // already gone
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh, empty database on `serverUrl`; returns its URL. */
export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    await c.query(`create database ${name}`);
  } finally {
    await c.end();
  }
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    await c.query(`drop database if exists ${name} with (force)`);
  } finally {
    await c.end();
  }
}
