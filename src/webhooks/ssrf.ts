/**
 * The SSRF guard for webhook URLs. A URL is checked when it is saved and again at every delivery,
 * after DNS resolution: `resolveWebhookTarget` returns the exact address it approved and the
 * delivery connects to that address (deliver.ts pins it with the request's `lookup`), so a name
 * that re-resolves to 127.0.0.1 between the check and the connect (DNS rebinding) is never reached.
 *
 * Production mode: https only; a host that is, or resolves to, a private, loopback, link-local,
 * unique-local, CGNAT, unspecified, multicast, reserved or cloud-metadata address is refused, also
 * when written as IPv4-mapped / NAT64 / 6to4 IPv6. Development mode: http or https, and loopback is
 * allowed (a receiver on your laptop); the rest is refused as in production.
 */
import dns from 'node:dns';
import net from 'node:net';
import { MalipoError } from '../domain/errors';

export type WebhookMode = 'development' | 'production';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address it has; injected in tests. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) => {
  const list = await dns.promises.lookup(hostname, { all: true, verbatim: true });
  return list.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

export interface SsrfOptions {
  mode: WebhookMode;
  resolve?: Resolver;
}

/** A URL that passed the guard, with the one address a delivery may connect to. */
export interface CheckedTarget {
  url: URL;
  /** The host as written, without IPv6 brackets. */
  hostname: string;
  address: string;
  family: 4 | 6;
}

const refuse = (reason: string): MalipoError =>
  new MalipoError('VALIDATION_ERROR', `The webhook URL is not allowed: ${reason}`, {
    details: [{ path: 'url', message: reason, code: 'url_not_allowed' }],
  });

type Range = [cidr: string, bits: number, label: string];

// Loopback is listed apart: development mode allows it.
const V4_LOOPBACK: Range[] = [['127.0.0.0', 8, 'loopback']];
const V4_BLOCKED: Range[] = [
  ['169.254.169.254', 32, 'cloud metadata'],
  ['0.0.0.0', 8, 'unspecified ("this network")'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];
const V6_LOOPBACK: Range[] = [['::1', 128, 'loopback']];
const V6_BLOCKED: Range[] = [
  ['fd00:ec2::254', 128, 'cloud metadata'],
  ['::', 128, 'unspecified'],
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
  ['2001:db8::', 32, 'documentation'],
  ['100::', 64, 'discard-only'],
];

function blockList(v4: Range[], v6: Range[]): Array<{ list: net.BlockList; label: string }> {
  return [
    ...v4.map(([a, bits, label]) => {
      const list = new net.BlockList();
      list.addSubnet(a, bits, 'ipv4');
      return { list, label };
    }),
    ...v6.map(([a, bits, label]) => {
      const list = new net.BlockList();
      list.addSubnet(a, bits, 'ipv6');
      return { list, label };
    }),
  ];
}
const LOOPBACK = blockList(V4_LOOPBACK, V6_LOOPBACK);
const BLOCKED = blockList(V4_BLOCKED, V6_BLOCKED);

/** 16 bytes of an IPv6 address (net.isIPv6 must hold). */
function ipv6Bytes(address: string): number[] {
  let a = address.split('%')[0]!.toLowerCase();
  // a trailing dotted quad (::ffff:1.2.3.4) becomes two hex groups
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (quad) {
    const [p, q, r, s] = quad[1]!.split('.').map(Number) as [number, number, number, number];
    a = `${a.slice(0, -quad[1]!.length)}${((p << 8) | q).toString(16)}:${((r << 8) | s).toString(16)}`;
  }
  const [head, tail] = a.includes('::') ? (a.split('::') as [string, string]) : [a, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/** The IPv4 address an IPv6 address embeds and would reach: mapped, compatible, NAT64 or 6to4. */
export function embeddedIPv4(address: string): string | undefined {
  if (!net.isIPv6(address)) return undefined;
  const b = ipv6Bytes(address);
  const v4 = (o: number) => b.slice(o, o + 4).join('.');
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(12); // ::ffff:a.b.c.d
  if (zero(0, 12) && !(zero(12, 15) && (b[15] === 0 || b[15] === 1))) return v4(12); // ::a.b.c.d
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return v4(12); // 64:ff9b::/96
  if (b[0] === 0x20 && b[1] === 0x02) return v4(2); // 2002:a.b.c.d::/16
  return undefined;
}

/**
 * Why an address must not be called, or undefined when it may be. Loopback is refused unless
 * `allowLoopback` (development mode).
 */
export function addressRefusal(address: string, allowLoopback: boolean): string | undefined {
  const family = net.isIP(address);
  if (family === 0) return 'not an IP address';
  const embedded = embeddedIPv4(address);
  if (embedded !== undefined) {
    const inner = addressRefusal(embedded, allowLoopback);
    return inner === undefined ? undefined : `${inner} (IPv4 inside IPv6)`;
  }
  const type = family === 6 ? 'ipv6' : 'ipv4';
  const plain = address.split('%')[0]!;
  for (const { list, label } of BLOCKED) if (list.check(plain, type)) return `${label} address ${address}`;
  if (!allowLoopback) {
    for (const { list, label } of LOOPBACK) if (list.check(plain, type)) return `${label} address ${address}`;
  }
  return undefined;
}

const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata.goog', 'metadata', 'instance-data']);

/** Checks what can be checked without DNS: scheme, credentials, host names. Returns the parsed URL. */
export function checkWebhookUrlSyntax(raw: string, mode: WebhookMode): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse('not a valid absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw refuse(`the scheme must be https${mode === 'development' ? ' or http' : ''}, not ${url.protocol}`);
  }
  if (mode === 'production' && url.protocol !== 'https:') throw refuse('production mode requires https');
  if (url.username !== '' || url.password !== '') throw refuse('credentials in the URL are not allowed');
  const host = url.hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
  if (host === '') throw refuse('the URL has no host');
  if (METADATA_NAMES.has(host)) throw refuse(`cloud metadata host ${host}`);
  if (mode === 'production' && (host === 'localhost' || host.endsWith('.localhost'))) {
    throw refuse(`loopback host ${host}`);
  }
  if (net.isIP(host)) {
    const reason = addressRefusal(host, mode === 'development');
    if (reason) throw refuse(reason);
  }
  return url;
}

/**
 * The full check used at each delivery: syntax, then DNS, then every resolved address. All
 * addresses must pass (a name that mixes public and private answers is refused); the first one is
 * returned for the connection.
 */
export async function resolveWebhookTarget(raw: string, opts: SsrfOptions): Promise<CheckedTarget> {
  const url = checkWebhookUrlSyntax(raw, opts.mode);
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  const allowLoopback = opts.mode === 'development';
  let addresses: ResolvedAddress[];
  const literal = net.isIP(hostname);
  if (literal !== 0) {
    addresses = [{ address: hostname, family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await (opts.resolve ?? systemResolver)(hostname);
    } catch (err) {
      throw refuse(`the host ${hostname} does not resolve (${(err as Error).message})`);
    }
    if (addresses.length === 0) throw refuse(`the host ${hostname} does not resolve`);
  }
  for (const a of addresses) {
    const reason = addressRefusal(a.address, allowLoopback);
    if (reason) throw refuse(`${hostname} resolves to a ${reason}`);
  }
  const first = addresses[0]!;
  return { url, hostname, address: first.address, family: first.family };
}

/**
 * The check when a URL is saved. Same as at delivery, except that in development mode a name that
 * does not resolve yet is accepted (it is checked again before every delivery).
 */
export async function assertWebhookUrlAllowed(raw: string, opts: SsrfOptions): Promise<URL> {
  if (opts.mode === 'development') {
    const url = checkWebhookUrlSyntax(raw, opts.mode);
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(hostname) !== 0) return url;
    let addresses: ResolvedAddress[] = [];
    try {
      addresses = await (opts.resolve ?? systemResolver)(hostname);
    } catch {
      return url;
    }
    for (const a of addresses) {
      const reason = addressRefusal(a.address, true);
      if (reason) throw refuse(`${hostname} resolves to a ${reason}`);
    }
    return url;
  }
  return (await resolveWebhookTarget(raw, opts)).url;
}
