/**
 * The outbound SSRF guard, shared by webhook URLs and channel (Daraja) base URLs. A URL is checked
 * when it is saved and again at every connection, after DNS resolution: `resolveWebhookTarget`
 * returns the exact address it approved and the caller connects to that address (`pinnedLookup`
 * answers the socket's DNS query with it), so a name that re-resolves to 127.0.0.1 between the
 * check and the connect (DNS rebinding) is never reached.
 *
 * Production mode: https only; a host that is, or resolves to, a private, loopback, link-local,
 * unique-local, CGNAT, unspecified, multicast, reserved or cloud-metadata address is refused, also
 * when written as IPv4-mapped / NAT64 / 6to4 IPv6. Development mode: http or https, and loopback is
 * allowed (a receiver on your laptop); the rest is refused as in production.
 */
import dns from 'node:dns';
import net, { type LookupFunction } from 'node:net';
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

/** What kind of URL is checked: names it in refusals, and says whether a query/fragment may be part of it. */
export interface OutboundTarget {
  /** Starts each refusal message, e.g. "The webhook URL". */
  label: string;
  /** The request field a refusal names in `details`. */
  path: string;
  /** A webhook URL may carry a query; a base URL that paths are appended to may not. */
  allowQueryAndFragment: boolean;
}

export const WEBHOOK_TARGET: OutboundTarget = {
  label: 'The webhook URL',
  path: 'url',
  allowQueryAndFragment: true,
};
export const CHANNEL_BASE_URL_TARGET: OutboundTarget = {
  label: 'The channel base URL',
  path: 'baseUrl',
  allowQueryAndFragment: false,
};

export interface SsrfOptions {
  mode: WebhookMode;
  resolve?: Resolver | undefined;
  /** Default WEBHOOK_TARGET. */
  target?: OutboundTarget | undefined;
}

/** A URL that passed the guard, with the one address a delivery may connect to. */
export interface CheckedTarget {
  url: URL;
  /** The host as written, without IPv6 brackets. */
  hostname: string;
  address: string;
  family: 4 | 6;
}

/** `details` code of a refusal because the host does not resolve (a DNS failure may be passing). */
export const URL_UNRESOLVED = 'url_unresolved';

const refuse = (
  reason: string,
  target: OutboundTarget = WEBHOOK_TARGET,
  code = 'url_not_allowed',
): MalipoError =>
  new MalipoError('VALIDATION_ERROR', `${target.label} is not allowed: ${reason}`, {
    details: [{ path: target.path, message: reason, code }],
  });

/** True for the guard's refusal because a name did not resolve (not because of what it resolved to). */
export function isUnresolvedRefusal(err: unknown): boolean {
  return (
    err instanceof MalipoError &&
    (err.details?.[0] as { code?: unknown } | undefined)?.code === URL_UNRESOLVED
  );
}

/** A `lookup` that answers every query with the address the guard approved (DNS pinning). */
export function pinnedLookup(target: Pick<CheckedTarget, 'address' | 'family'>): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  }) as unknown as LookupFunction;
}

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

/** A URL's host as compared: lower case, without IPv6 brackets or a trailing dot. */
export function normalHost(url: URL): string {
  return url.hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
}

/**
 * Checks what can be checked without DNS: scheme, credentials, host names (and, for a base URL, no
 * query or fragment). Returns the parsed URL.
 */
export function checkWebhookUrlSyntax(
  raw: string,
  mode: WebhookMode,
  target: OutboundTarget = WEBHOOK_TARGET,
): URL {
  const no = (reason: string) => refuse(reason, target);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw no('not a valid absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw no(`the scheme must be https${mode === 'development' ? ' or http' : ''}, not ${url.protocol}`);
  }
  if (mode === 'production' && url.protocol !== 'https:') throw no('production mode requires https');
  if (url.username !== '' || url.password !== '') throw no('credentials in the URL are not allowed');
  if (!target.allowQueryAndFragment) {
    if (url.search !== '' || raw.includes('?')) throw no('a query is not allowed');
    if (url.hash !== '' || raw.includes('#')) throw no('a fragment is not allowed');
  }
  const host = normalHost(url);
  if (host === '') throw no('the URL has no host');
  if (METADATA_NAMES.has(host)) throw no(`cloud metadata host ${host}`);
  if (mode === 'production' && (host === 'localhost' || host.endsWith('.localhost'))) {
    throw no(`loopback host ${host}`);
  }
  if (net.isIP(host)) {
    const reason = addressRefusal(host, mode === 'development');
    if (reason) throw no(reason);
  }
  return url;
}

/**
 * The full check used at each delivery: syntax, then DNS, then every resolved address. All
 * addresses must pass (a name that mixes public and private answers is refused); the first one is
 * returned for the connection.
 */
export async function resolveWebhookTarget(raw: string, opts: SsrfOptions): Promise<CheckedTarget> {
  const target = opts.target ?? WEBHOOK_TARGET;
  const url = checkWebhookUrlSyntax(raw, opts.mode, target);
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  const allowLoopback = opts.mode === 'development';
  let addresses: ResolvedAddress[];
  const literal = net.isIP(hostname);
  if (literal !== 0) {
    addresses = [{ address: hostname, family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await (opts.resolve ?? systemResolver)(hostname);
    } catch {
      // the resolver's own words stay out: they may reach an API caller
      addresses = [];
    }
    if (addresses.length === 0) throw refuse(`the host ${hostname} does not resolve`, target, URL_UNRESOLVED);
  }
  for (const a of addresses) {
    const reason = addressRefusal(a.address, allowLoopback);
    if (reason) throw refuse(`${hostname} resolves to a ${reason}`, target);
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
    const target = opts.target ?? WEBHOOK_TARGET;
    const url = checkWebhookUrlSyntax(raw, opts.mode, target);
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
      if (reason) throw refuse(`${hostname} resolves to a ${reason}`, target);
    }
    return url;
  }
  return (await resolveWebhookTarget(raw, opts)).url;
}
