/**
 * Writes docs/configuration.md from the zod schema in src/config.ts: one row per variable, with its
 * default, its allowed values and the description given to it there (`doc(...)`).
 *   npm run docs:config            rewrite the page
 *   npm run docs:config -- --check exit 1 if the committed page differs from what the schema gives
 * test/unit/config-docs.test.ts runs the check, so the page cannot drift from the schema.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { EnvSchema } from '../src/config';

export const CONFIG_DOCS_PATH = path.resolve(__dirname, '..', 'docs', 'configuration.md');

// biome-ignore lint/suspicious/noExplicitAny: zod's internal definitions are walked structurally
type Def = any;
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The schema's plain default, or undefined when it has none (the description's `unset` says what applies). */
function plainDefault(s: z.ZodType): unknown {
  const def = defOf(s);
  if (def.type !== 'default') return undefined;
  return typeof def.defaultValue === 'function' ? def.defaultValue() : def.defaultValue;
}

/** Allowed values read from the schema: an enum's members, a number's kind and range, a URL. */
function allowedValues(s: z.ZodType): string | undefined {
  const def = defOf(s);
  switch (def.type) {
    case 'enum':
      return Object.values(def.entries as Record<string, string>)
        .map((v) => `\`${v}\``)
        .join(', ');
    case 'number': {
      const kind = (s as unknown as { isInt: boolean }).isInt ? 'integer' : 'number';
      const bounds = (def.checks ?? []).map(
        (c: Def) => c._zod.def as { check: string; value: number; inclusive: boolean },
      );
      const lo = bounds.find((b: { check: string }) => b.check === 'greater_than');
      const hi = bounds.find((b: { check: string }) => b.check === 'less_than');
      if (lo && hi && lo.inclusive && hi.inclusive) return `${kind} ${lo.value}–${hi.value}`;
      const parts = [
        lo ? `${lo.inclusive ? '≥' : '>'} ${lo.value}` : undefined,
        hi ? `${hi.inclusive ? '≤' : '<'} ${hi.value}` : undefined,
      ].filter((p) => p !== undefined);
      return parts.length === 0 ? kind : `${kind} ${parts.join(', ')}`;
    }
    case 'string':
      return def.format === 'url' ? 'URL' : undefined;
    case 'default':
    case 'optional':
      return allowedValues(def.innerType);
    case 'pipe':
      return allowedValues(def.in) ?? allowedValues(def.out);
    default:
      return undefined;
  }
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

const INTRO = `# Configuration

<!-- Generated from src/config.ts by \`npm run docs:config\`; edit the descriptions there, not here. -->

All settings are environment variables, validated at boot by one zod schema (\`src/config.ts\`);
a bad value stops the process with every problem listed. Secrets are wrapped so they print as
\`[redacted]\`; logs mask phone numbers (\`2547****5678\`) and never carry keys, passkeys or tokens.
Booleans accept \`true\`/\`false\`, \`1\`/\`0\` and \`yes\`/\`no\`.
`;

const NOTES = `## How often a pending payment asks Daraja

A payment with no callback yet asks Daraja with an STK
query \`MALIPO_STK_QUERY_FIRST_SECONDS\` after the push was accepted, then again and again, each wait
1.5 times the last, up to \`MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS\`: with the defaults, after 20 s,
30 s, 45 s, and then once a minute until the deadline (and, after a timeout nobody answered, at the
same pace through the grace window until Daraja gives a final answer). That is fine with the default
3-minute deadline, but with a long \`MALIPO_STK_DEADLINE_SECONDS\` every pending payment keeps asking
about once a minute, so N pending payments cost about N/60 queries a second: 6,000 prompts left open
for an hour send Daraja some 100 queries a second, and Daraja's STK Query is rate limited too. An
operator who holds many long-lived prompts lengthens the cadence (for example a first query after
60 s and at most one every 10 minutes). Callbacks, and the query that confirms a success callback,
do not wait for this cadence; the timed queries only catch callbacks that never arrive, so a longer
cadence means such a payment is noticed later (the last query at the deadline still runs). The
cadence is copied into each payment's workflow input, so a change applies to payments created after
it, and every payment's history records the cadence it ran with. A cap below the first delay is
refused at boot.

## Behind a proxy (\`MALIPO_TRUST_PROXY\`)

The pay pages limit requests per client IP. By default that
IP is the socket's address and \`X-Forwarded-For\` is ignored: believed blindly, a forged header would put
every request in a fresh bucket and defeat the per-IP limits. Behind a reverse proxy or load balancer,
every client shares the proxy's address, so say which hops to believe: a hop count (\`1\` for one proxy
that appends the address it saw), or the proxies' addresses or CIDRs (\`10.0.0.0/8,192.0.2.7\`; express's
\`loopback\`, \`linklocal\` and \`uniquelocal\` work too). \`true\` believes every hop; it is refused in
production mode. This is express's \`trust proxy\`, so it also sets \`req.ip\` and \`req.protocol\`.

## How much the worker keeps in memory

The worker keeps recently active workflows in its sticky
cache so their next task runs without replaying. \`MALIPO_WORKER_MAX_CACHED_WORKFLOWS\` bounds that
cache, and with it the worker's memory; unset, the Temporal SDK sizes it from the V8 heap limit. A
workflow evicted from the cache is replayed from its history on its next task (a callback, a query
timer, the deadline): CPU instead of memory, and the replay grows with the payment's history. If
\`maxConcurrentWorkflowTaskExecutions\` would exceed the cache size, the SDK lowers it to the cache
size; a value of 1 is raised to 2 by the SDK.

## Development mode stays on this machine

\`malipo dev\`, \`malipo api\` and \`malipo worker\` refuse
to start (exit 2, with the reason) in development mode when \`HOST\` is not a loopback address
(127.0.0.0/8, \`::1\`, \`localhost\`; \`0.0.0.0\` and \`::\` are not), because development mode serves the
simulator and a demo all-scopes key and lets webhooks reach private addresses. To serve a network,
use \`MALIPO_MODE=production\`. In development mode the first log line is a \`DEVELOPMENT MODE\`
warning.
`;

/** The page, exactly as the schema gives it. */
export function renderConfigDocs(): string {
  const rows = Object.entries(EnvSchema.shape).map(([name, schema]) => {
    const meta = (schema as z.ZodType).meta() as { description?: string; unset?: string } | undefined;
    if (!meta?.description) throw new Error(`${name} has no description in src/config.ts`);
    const def = plainDefault(schema as z.ZodType);
    const shown = meta.unset ?? (def === undefined ? 'unset' : `\`${String(def)}\``);
    const values = allowedValues(schema as z.ZodType) ?? 'text';
    return `| \`${name}\` | ${cell(shown)} | ${cell(values)} | ${cell(meta.description)} |`;
  });
  return biomeFormatted(
    [
      INTRO,
      '| variable | default | values | meaning |',
      '| --- | --- | --- | --- |',
      ...rows,
      '',
      NOTES,
    ].join('\n'),
  );
}

/** The page as `biome format` leaves it (the repository's format check covers Markdown too). */
function biomeFormatted(markdown: string): string {
  const root = path.resolve(__dirname, '..');
  const r = spawnSync(
    path.join(root, 'node_modules', '.bin', 'biome'),
    ['format', `--stdin-file-path=${CONFIG_DOCS_PATH}`],
    {
      cwd: root,
      input: markdown,
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`biome format failed: ${r.stderr}`);
  return r.stdout;
}

if (require.main === module) {
  const want = renderConfigDocs();
  if (process.argv.includes('--check')) {
    const have = fs.existsSync(CONFIG_DOCS_PATH) ? fs.readFileSync(CONFIG_DOCS_PATH, 'utf8') : '';
    if (have !== want) {
      console.error(
        `${path.relative(process.cwd(), CONFIG_DOCS_PATH)} is out of date: run npm run docs:config`,
      );
      process.exit(1);
    }
  } else {
    fs.writeFileSync(CONFIG_DOCS_PATH, want);
    console.log(
      `wrote ${path.relative(process.cwd(), CONFIG_DOCS_PATH)} (${Object.keys(EnvSchema.shape).length} variables)`,
    );
  }
}
