/** Test helpers: a simulator on an ephemeral loopback port, a callback receiver, a client pointed at it. */
import type { Server } from 'node:http';
import express from 'express';
import { DarajaClient, type DarajaClientOptions } from '../../src/daraja/client';
import { DEFAULT_APP, type SandboxOptions, type SandboxServer, startSandboxServer } from '../../src/sandbox';

export function startSim(opts: SandboxOptions = {}): Promise<SandboxServer> {
  return startSandboxServer({ seed: 42, callbackDelayMs: 30, ...opts, port: 0, host: '127.0.0.1' });
}

export function clientFor(sim: { url: string }, opts: Partial<DarajaClientOptions> = {}): DarajaClient {
  return new DarajaClient({
    baseUrl: sim.url,
    consumerKey: DEFAULT_APP.consumerKey,
    consumerSecret: DEFAULT_APP.consumerSecret,
    timeoutMs: 3000,
    ...opts,
  });
}

export interface Received {
  path: string;
  body: unknown;
  at: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Answer status for every POST (default 200). */
  status: number;
  waitFor(pred: (r: Received[]) => boolean, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

/** A small express server that records every POSTed JSON body. */
export async function startReceiver(): Promise<Receiver> {
  const app = express();
  const received: Received[] = [];
  const rec: Receiver = {
    url: '',
    received,
    status: 200,
    waitFor: (pred, timeoutMs = 3000) => waitUntil(() => (pred(received) ? received : undefined), timeoutMs),
    close: async () => {},
  };
  app.use(express.json());
  app.post('/{*path}', (req, res) => {
    received.push({ path: req.path, body: req.body, at: Date.now() });
    res.status(rec.status).json({ ResultCode: 0, ResultDesc: 'Accepted' });
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const addr = server.address();
  rec.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  rec.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return rec;
}

/** Polls until `fn` returns a value other than undefined. */
export async function waitUntil<T>(fn: () => T | undefined, timeoutMs = 3000, stepMs = 10): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
