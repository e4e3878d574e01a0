/** Load generation: open-loop fixed rates and closed-loop fixed concurrency over one async operation. */
import http from 'node:http';
import type { Progress } from './progress';

export interface Sample {
  ok: boolean;
  /** The request's own latency (POST, or the workflow start call). */
  postMs?: number | undefined;
  /** From the request's start to the end of the whole payment (verified webhook, workflow result). */
  e2eMs?: number | undefined;
  /** performance.now() when it ended. */
  endAt: number;
  error?: string | undefined;
  paymentId?: string | undefined;
  reference?: string | undefined;
  eventId?: string | undefined;
}

export type Operation = (n: number) => Promise<Sample>;

export interface LoadResult {
  samples: Sample[];
  startedAt: number;
  /** performance.now() when the last operation ended. */
  endedAt: number;
  attempted: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts `rate` operations per second for `durationMs` regardless of how the earlier ones fare, then awaits all. */
export async function openLoop(
  rate: number,
  durationMs: number,
  op: Operation,
  progress: Progress,
): Promise<LoadResult> {
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const startedAt = performance.now();
  const pending: Array<Promise<Sample>> = [];
  let finished = 0;
  for (let i = 0; i < total; i++) {
    const due = startedAt + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    pending.push(
      op(i).finally(() => {
        finished++;
      }),
    );
    progress.tick(i + 1, `${i + 1}/${total} sent, ${finished} done`);
  }
  const samples = await Promise.all(pending);
  return { samples, startedAt, endedAt: lastEnd(samples, startedAt), attempted: total };
}

/** `concurrency` loops, each running the operation back to back until `durationMs` has passed. */
export async function closedLoop(
  concurrency: number,
  durationMs: number,
  op: Operation,
  progress: Progress,
  maxOps = Number.POSITIVE_INFINITY,
): Promise<LoadResult> {
  const startedAt = performance.now();
  const deadline = startedAt + durationMs;
  const samples: Sample[] = [];
  let n = 0;
  const loop = async () => {
    while (performance.now() < deadline && n < maxOps) {
      const s = await op(n++);
      samples.push(s);
      const elapsed = performance.now() - startedAt;
      progress.tick(Number.isFinite(maxOps) ? samples.length : elapsed / 1000, `${samples.length} done`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { samples, startedAt, endedAt: lastEnd(samples, startedAt), attempted: n };
}

function lastEnd(samples: readonly Sample[], fallback: number): number {
  let end = fallback;
  for (const s of samples) if (s.endAt > end) end = s.endAt;
  return end;
}

/** A keep-alive JSON client (lighter than fetch, so the load generator costs little CPU). */
export class JsonClient {
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 4096 });

  post(
    url: string,
    body: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; json: unknown }> {
    const data = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        url,
        {
          method: 'POST',
          agent: this.#agent,
          headers: { 'content-type': 'application/json', 'content-length': String(data.length), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = text ? JSON.parse(text) : undefined;
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, json });
          });
        },
      );
      req.setTimeout(60_000, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(data);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** A short error kind for the report. */
export function errorKind(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  const name = err instanceof Error ? err.message : String(err);
  return name.length > 40 ? `${name.slice(0, 40)}…` : name;
}
