/**
 * Development mode is for one machine: it serves the Daraja simulator, creates a demo merchant with an
 * all-scopes key, generates the encryption key, and lets webhooks reach private addresses. So the
 * processes refuse to start in development mode on an address other hosts can reach, and warn loudly
 * when they do start in it. Pure: the command line (src/cli.ts) acts on the answer.
 */
import net from 'node:net';

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * 127.0.0.0/8, ::1 (in any spelling, also [::1] and IPv4-mapped ::ffff:127.x.y.z) and `localhost`.
 * Not 0.0.0.0 or `::`, which listen on every interface, and no other name: it could resolve anywhere.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === 'localhost.') return true;
  const family = net.isIP(h);
  if (family === 0) return false;
  return LOOPBACK.check(h, family === 6 ? 'ipv6' : 'ipv4');
}

export type StartDecision = { start: true; warning?: string | undefined } | { start: false; message: string };

/** May `malipo dev|api|worker` start with this mode and HOST, and what must it say? */
export function developmentModeDecision(config: { MALIPO_MODE: string; HOST: string }): StartDecision {
  if (config.MALIPO_MODE !== 'development') return { start: true };
  if (!isLoopbackHost(config.HOST)) {
    return {
      start: false,
      message:
        `refusing to start in development mode on HOST=${config.HOST}: development mode serves the Daraja ` +
        'simulator and a demo all-scopes key and relaxes webhook address checks, so it binds only to a ' +
        'loopback address (127.0.0.1, ::1, localhost). Set HOST=127.0.0.1, or MALIPO_MODE=production to serve a network.',
    };
  }
  return {
    start: true,
    warning:
      'DEVELOPMENT MODE: simulator, demo key and relaxed webhook checks are on; never use it with real money or on a network',
  };
}
