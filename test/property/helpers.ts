/**
 * Shared pieces of the property-based bad-input tests: a raw HTTP client (so headers can repeat,
 * be huge or carry any byte Node lets through), row counts of the tables a write would touch, and
 * the envelope check every 4xx must pass.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import fc from 'fast-check';
import type { Db } from '../../src/db';
import { normalizePhone } from '../../src/domain/phone';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
  body: any;
}

/** One request over a fresh connection; header values may be arrays (sent as repeated lines). */
export function rawRequest(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string | string[]>,
  body?: string | Buffer,
): Promise<RawResponse | 'client-refused'> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    let req: http.ClientRequest;
    try {
      req = http.request({ host: u.hostname, port: u.port, method, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed });
        });
        res.on('error', reject);
      });
    } catch {
      // Node's client refuses some header names/values itself; nothing reached the server
      resolve('client-refused');
      return;
    }
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

export const COUNTED_TABLES = [
  'payments',
  'channels',
  'webhook_endpoints',
  'api_keys',
  'callback_inbox',
  'events',
  'idempotency_keys',
  'webhook_deliveries',
] as const;
export type Counts = Record<(typeof COUNTED_TABLES)[number], number>;

export async function countRows(db: Db): Promise<Counts> {
  const out = {} as Counts;
  for (const t of COUNTED_TABLES) {
    // biome-ignore lint/suspicious/noExplicitAny: table names come from the list above
    const r = await (db as any)
      .selectFrom(t)
      // biome-ignore lint/suspicious/noExplicitAny: the expression builder of a dynamic table
      .select((eb: any) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    out[t] = Number(r.n);
  }
  return out;
}

/** A 4xx in the one error envelope (Node's own 431 for oversized headers has no body and is allowed). */
export function assertRejected(r: RawResponse, what: string): void {
  assert.ok(
    r.status >= 400 && r.status < 500,
    `${what}: expected a 4xx, got ${r.status}: ${r.text.slice(0, 300)}`,
  );
  if (r.status === 431) return;
  const b = r.body;
  assert.ok(
    b &&
      typeof b.message === 'string' &&
      typeof b.error?.code === 'string' &&
      typeof b.error?.message === 'string' &&
      typeof b.requestId === 'string' &&
      (b.error.details === undefined || Array.isArray(b.error.details)),
    `${what}: not the error envelope: ${r.status} ${r.text.slice(0, 300)}`,
  );
}

/** Never a 5xx; a 4xx is in the envelope. */
export function assertNo5xx(r: RawResponse, what: string): void {
  assert.ok(r.status < 500, `${what}: got ${r.status}: ${r.text.slice(0, 300)}`);
  if (r.status >= 400) assertRejected(r, what);
}

/** Strings that tend to break things: huge, unicode, control characters, look-alike digits. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '０７０８３７４１４９',
    '٠٧٠٨٣٧٤١٤٩',
    '07083741４9',
    '+254 708 374 149 x',
    '254708374149'.repeat(50),
    '🙂'.repeat(3000),
    'x'.repeat(70_000),
    '__proto__',
    'constructor',
    "'; drop table payments; --",
    '%00',
    '../../etc/passwd',
    'NaN',
    'Infinity',
    '1e400',
  ),
);

/** Anything JSON can carry, including prototype-looking keys. */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.dictionary(
    fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'toString')),
    fc.jsonValue({ maxDepth: 2 }),
  ),
);

export const badAmount: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ max: 0 }),
  fc.integer({ min: 250_001 }),
  fc.double({ noNaN: true }).filter((d) => !Number.isInteger(d) || d < 1 || d > 250_000),
  fc.constantFrom(0, -1, 0.5, 1.0000001, 250_001, 1e21, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, -0),
  fc.string(),
  fc.constantFrom('100', null, true, [], {}, [100], { amount: 100 }),
);

/** Phones normalizePhone refuses (a number such as 100000000 is a valid 01… phone, so the filter is needed). */
export const badPhone: fc.Arbitrary<unknown> = fc
  .oneof(
    nastyString,
    fc.integer(),
    fc.double(),
    fc.constantFrom(
      '0808374149',
      '2548708374149',
      '25470837414',
      '+2547083741490',
      '0708-374-14',
      '070837414a',
      '++254708374149',
      '254 7o8 374 149',
      708374149.5,
      254708374149e3,
      null,
      true,
      [],
      {},
      ['0708374149'],
    ),
  )
  .filter((v) => !normalizePhone(v).ok);

/** Row counts of any tables (for routes that write beyond COUNTED_TABLES, e.g. payouts or audit_log). */
export async function countTables<T extends string>(
  db: Db,
  tables: readonly T[],
): Promise<Record<T, number>> {
  const out = {} as Record<T, number>;
  for (const t of tables) {
    // biome-ignore lint/suspicious/noExplicitAny: table names come from the caller's list
    const r = await (db as any)
      .selectFrom(t)
      // biome-ignore lint/suspicious/noExplicitAny: the expression builder of a dynamic table
      .select((eb: any) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    out[t] = Number(r.n);
  }
  return out;
}
