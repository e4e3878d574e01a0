/**
 * What the money flows of `malipo chaos` (STK payments, B2C payouts, C2B confirmations) share: the
 * context they drive through, and the per-kind summary the run prints and judges.
 */
import type { Db } from '../db';
import type { LedgerSnapshot, SandboxState } from '../sandbox';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API
export type Json = any;

export interface ApiAnswer {
  status: number;
  body: Json;
  text: string;
}

export interface ChaosContext {
  db: Db;
  state: SandboxState;
  merchantId: string;
  /** A short random tag of this run, for references. */
  run: string;
  /** Calls the API (a random API process) with the run's key. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer>;
  /**
   * POSTs a create request with its Idempotency-Key until it is accepted (202), retrying network errors,
   * 5xx, 409 and 429 as a client would; any other answer is a violation. Resolves to the 202 body.
   */
  submit(label: string, path: string, body: unknown, idempotencyKey: string): Promise<Json | undefined>;
  violate(v: string): void;
  /** The API process Daraja calls back (MALIPO_PUBLIC_URL). */
  hookBase: string;
  callbackSecret: string;
}

/** One row of the per-kind table. `wrong`: a final status the ledger contradicts; `double`: money moved twice, or twice recorded. */
export interface KindSummary {
  kind: string;
  total: number;
  success: number;
  failed: number;
  /** Undefined where the kind has no such status (C2B confirmations are final). */
  needsReview: number | undefined;
  wrong: number;
  double: number;
}

/** What a flow found once everything settled. */
export interface FlowCheck {
  summary: KindSummary;
  /** Key/value lines for the printed table. */
  lines: Array<[string, string | number]>;
  /** Ids (payment / payout) that are final and so must have an event. */
  finalIds: string[];
}

export interface Flow {
  /** Drives the `n`-th item of this kind. */
  drive(n: number): Promise<void>;
  /** True once nothing of this kind can still change (no pending row, no confirmation in flight). */
  settled(): Promise<boolean>;
  /** Compares Malipo's records with the simulator's ledger; reports violations through the context. */
  check(ledger: LedgerSnapshot): Promise<FlowCheck>;
}

/** The per-kind table: total, success, failed, needs_review, wrong, double. */
export function kindTable(rows: KindSummary[]): string {
  const head = ['kind', 'total', 'success', 'failed', 'needs_review', 'wrong', 'double'];
  const cells = rows.map((r) => [
    r.kind,
    String(r.total),
    String(r.success),
    String(r.failed),
    r.needsReview === undefined ? '-' : String(r.needsReview),
    String(r.wrong),
    String(r.double),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: string[]) =>
    c.map((v, i) => (i === 0 ? v.padEnd(widths[i] as number) : v.padStart(widths[i] as number))).join('  ');
  return [line(head), ...cells.map(line)].join('\n');
}

/** Fisher–Yates, in place. */
export function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}
