/**
 * Per-key rate limits over fixed one-minute windows: `creation` routes (payment and payout creation)
 * and `standard` routes count separately. The in-memory store serves one process; the PostgreSQL store
 * is shared by every API process on one DATABASE_URL, incremented with one atomic upsert per request.
 * Answers carry `RateLimit-Limit/Remaining/Reset`; a refusal is 429 RATE_LIMIT_EXCEEDED with `Retry-After`.
 */
import net from 'node:net';
import type { Request, RequestHandler, Response } from 'express';
import { sql } from 'kysely';
import type { Db } from '../../db';
import { MalipoError } from '../../domain/errors';

export type RateLimitClass = 'creation' | 'standard';

export interface RateLimitStore {
  /** Counts one request in `bucket`'s window starting at `windowStart`; returns the count including it. */
  hit(bucket: string, windowStart: number, windowMs: number): Promise<number>;
}

export class MemoryRateLimitStore implements RateLimitStore {
  readonly #counts = new Map<string, { windowStart: number; count: number }>();

  async hit(bucket: string, windowStart: number): Promise<number> {
    const entry = this.#counts.get(bucket);
    if (!entry || entry.windowStart !== windowStart) {
      // the map holds one entry per active key and bucket; old windows are overwritten
      if (this.#counts.size > 50_000) this.#sweep(windowStart);
      this.#counts.set(bucket, { windowStart, count: 1 });
      return 1;
    }
    entry.count += 1;
    return entry.count;
  }

  #sweep(current: number): void {
    for (const [k, v] of this.#counts) if (v.windowStart < current) this.#counts.delete(k);
  }
}

/**
 * Shared counters in `rate_limit_windows`. `insert … on conflict do update … returning` is one
 * statement, so concurrent requests from several processes each see a distinct count.
 */
export class PostgresRateLimitStore implements RateLimitStore {
  #lastSweep = 0;
  constructor(
    private readonly db: Db,
    private readonly sweepEveryMs = 60_000,
  ) {}

  async hit(bucket: string, windowStart: number, windowMs: number): Promise<number> {
    const expiresAt = windowStart + windowMs;
    const r = await sql<{ count: number }>`
      insert into rate_limit_windows (bucket, window_start, count, expires_at)
      values (${bucket}, ${windowStart}, 1, ${expiresAt})
      on conflict (bucket, window_start)
      do update set count = rate_limit_windows.count + 1
      returning count`.execute(this.db);
    if (windowStart - this.#lastSweep >= this.sweepEveryMs) {
      this.#lastSweep = windowStart;
      await sql`delete from rate_limit_windows where expires_at < ${windowStart}`.execute(this.db);
    }
    return Number(r.rows[0]?.count ?? 1);
  }
}

export interface RateLimitOptions {
  store: RateLimitStore;
  limits: Record<RateLimitClass, number>;
  windowMs?: number;
  now?: () => number;
}

/** Limits the authenticated key (res.locals.auth); mount after authentication. */
export function rateLimit(cls: RateLimitClass, opts: RateLimitOptions): RequestHandler {
  const windowMs = opts.windowMs ?? 60_000;
  const now = opts.now ?? Date.now;
  const limit = opts.limits[cls];
  return async (_req, res, next) => {
    const keyId = (res.locals.auth as { keyId?: string } | undefined)?.keyId;
    if (!keyId) {
      next();
      return;
    }
    const t = now();
    const windowStart = Math.floor(t / windowMs) * windowMs;
    const count = await opts.store.hit(`${keyId}:${cls}`, windowStart, windowMs);
    const resetSeconds = Math.max(1, Math.ceil((windowStart + windowMs - t) / 1000));
    res.setHeader('RateLimit-Limit', String(limit));
    res.setHeader('RateLimit-Remaining', String(Math.max(0, limit - count)));
    res.setHeader('RateLimit-Reset', String(resetSeconds));
    if (count > limit) {
      throw new MalipoError('RATE_LIMIT_EXCEEDED', `Too many requests: ${limit} per minute for this key`, {
        headers: { 'Retry-After': String(resetSeconds) },
        retryable: true,
      });
    }
    next();
  };
}

export interface IpRateLimitOptions {
  store: RateLimitStore;
  /** Requests per window per client IP. */
  limit: number;
  /** Counts separately from other per-IP limits (`pay.submit`, `pay.view`, …). */
  bucket: string;
  windowMs?: number;
  now?: () => number;
  /** Answers a refusal (an HTML page, say); by default 429 RATE_LIMIT_EXCEEDED in the envelope. */
  onLimited?: (req: Request, res: Response, retryAfterSeconds: number) => void;
  /**
   * IPv6 clients count by this prefix (64: one bucket per /64, what one subscriber usually gets, so
   * rotating through its addresses gains nothing). Unset: the address as express gives it.
   */
  ipv6PrefixBits?: number;
}

/** The 8 16-bit words of an IPv6 address (zone dropped, a dotted IPv4 tail folded in); undefined if not IPv6. */
function ipv6Words(ip: string): number[] | undefined {
  let s = ip.split('%')[0] ?? '';
  if (net.isIPv6(s) === false) return undefined;
  const v4 = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(2).map(Number) as [number, number, number, number];
    s = `${v4[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = s.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined ? [] : tail === '' ? [] : tail.split(':');
  const words = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return words.length === 8 ? words.map((w) => Number.parseInt(w, 16)) : undefined;
}

/**
 * The rate-limit group of a client address: an IPv4 address as is (also when written IPv4-mapped,
 * `::ffff:1.2.3.4`), an IPv6 address as its first `v6PrefixBits` bits, e.g. `2001:db8:1:2::/64`.
 */
export function clientAddressGroup(ip: string, v6PrefixBits = 128): string {
  const words = ipv6Words(ip);
  if (!words) return ip;
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `${words[6]! >> 8}.${words[6]! & 0xff}.${words[7]! >> 8}.${words[7]! & 0xff}`;
  }
  const bits = Math.max(0, Math.min(128, Math.floor(v6PrefixBits)));
  const kept = words.map((w, i) => {
    const keep = Math.max(0, Math.min(16, bits - i * 16));
    return keep === 0 ? 0 : w & (0xffff << (16 - keep)) & 0xffff;
  });
  return `${kept.map((w) => w.toString(16)).join(':')}/${bits}`;
}

/**
 * Per-IP limits for public routes (no key to count by). The IP is express's `req.ip`: the socket's
 * address unless `trust proxy` (MALIPO_TRUST_PROXY) names the proxies whose X-Forwarded-For to believe,
 * so a client cannot pick its bucket with a forged header.
 */
export function ipRateLimit(opts: IpRateLimitOptions): RequestHandler {
  const windowMs = opts.windowMs ?? 60_000;
  const now = opts.now ?? Date.now;
  return async (req, res, next) => {
    const raw = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const ip = opts.ipv6PrefixBits === undefined ? raw : clientAddressGroup(raw, opts.ipv6PrefixBits);
    const t = now();
    const windowStart = Math.floor(t / windowMs) * windowMs;
    const count = await opts.store.hit(`ip:${ip}:${opts.bucket}`, windowStart, windowMs);
    const resetSeconds = Math.max(1, Math.ceil((windowStart + windowMs - t) / 1000));
    res.setHeader('RateLimit-Limit', String(opts.limit));
    res.setHeader('RateLimit-Remaining', String(Math.max(0, opts.limit - count)));
    res.setHeader('RateLimit-Reset', String(resetSeconds));
    if (count > opts.limit) {
      if (opts.onLimited) {
        res.setHeader('Retry-After', String(resetSeconds));
        opts.onLimited(req, res, resetSeconds);
        return;
      }
      throw new MalipoError('RATE_LIMIT_EXCEEDED', 'Too many requests from this address; try again shortly', {
        headers: { 'Retry-After': String(resetSeconds) },
        retryable: true,
      });
    }
    next();
  };
}
