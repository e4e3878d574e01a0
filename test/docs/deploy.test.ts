/**
 * The example deployment files (deploy/compose.yaml, deploy/k8s/*.yaml, deploy/Dockerfile) parse, and
 * what they run is real: Malipo's containers run commands the CLI has, set only variables src/config.ts
 * reads, and that environment passes loadConfig in production mode; probes hit routes that exist.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { buildCli } from '../../src/cli';
import { EnvSchema, loadConfig } from '../../src/config';
import { SEARCH_ATTRIBUTES } from '../../src/domain/search-attributes';
import { healthRoutes } from '../../src/http/routes/health';
import { ROOT } from '../helpers/markdown';

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML is arbitrary
type Doc = any;

/** Every document of a YAML file, parsed strictly: a syntax error, a duplicate key or a warning fails. */
function parseYaml(rel: string): Doc[] {
  const docs = parseAllDocuments(fs.readFileSync(path.join(ROOT, rel), 'utf8'), { uniqueKeys: true });
  if (!Array.isArray(docs)) throw new Error(`${rel}: not a YAML stream`);
  return docs.map((d, i) => {
    const problems = [...d.errors, ...d.warnings].map((e) => e.message);
    assert.deepEqual(problems, [], `${rel} document ${i + 1}`);
    return d.toJS({ maxAliasCount: 10 });
  });
}

const KNOWN_VARS = new Set(Object.keys(EnvSchema.shape));
const COMMANDS = new Set(buildCli().commands.map((c) => c.name()));
/** Values a secret reference or a `${VAR:?…}` interpolation stands for, valid for loadConfig. */
const STAND_INS: Record<string, string> = {
  MALIPO_ENCRYPTION_KEY: '0'.repeat(64),
  MALIPO_PUBLIC_URL: 'https://pay.example.com',
  DATABASE_URL: 'postgres://malipo:secret@db.example.internal:5432/malipo',
  TEMPORAL_API_KEY: 'temporal-cloud-key',
};

/** A compose value with its `${NAME:?…}` / `${NAME:-default}` interpolations filled in. */
function interpolate(value: string): string {
  return value.replace(
    /\$\{([A-Z_]+)(?::([?-])([^}]*))?\}/g,
    (_m, name: string, op?: string, rest?: string) => {
      if (op === '-') return rest ?? '';
      const v = STAND_INS[name];
      assert.ok(v, `no stand-in for \${${name}}`);
      return v;
    },
  );
}

function checkMalipoEnv(where: string, env: Record<string, string>): void {
  for (const name of Object.keys(env))
    assert.ok(KNOWN_VARS.has(name), `${where}: ${name} is not a Malipo variable`);
  assert.equal(env.MALIPO_MODE, 'production', `${where}: production mode`);
  for (const required of ['MALIPO_PUBLIC_URL', 'MALIPO_ENCRYPTION_KEY', 'DATABASE_URL', 'TEMPORAL_ADDRESS']) {
    assert.ok(env[required], `${where}: ${required} is set`);
  }
  const config = loadConfig(env);
  assert.equal(config.isProduction, true);
  assert.equal(config.MALIPO_SANDBOX, false);
}

describe('deploy/compose.yaml', () => {
  const [compose] = parseYaml('deploy/compose.yaml');

  it("runs Malipo's api and worker commands, several of each, on the production environment", () => {
    const services = compose.services as Record<string, Doc>;
    const malipo = Object.entries(services).filter(([, s]) => String(s.image ?? '').startsWith('malipo:'));
    const commands = malipo.map(([, s]) => s.command[0]).sort();
    assert.deepEqual(commands, ['api', 'worker']);
    for (const [name, s] of malipo) {
      assert.ok(COMMANDS.has(s.command[0]), `${name}: malipo ${s.command[0]} exists`);
      assert.ok(s.deploy.replicas >= 2, `${name}: several processes`);
      const env = Object.fromEntries(
        Object.entries(s.environment as Record<string, string>).map(([k, v]) => [k, interpolate(String(v))]),
      );
      checkMalipoEnv(`compose ${name}`, env);
      assert.equal(env.TEMPORAL_ADDRESS, 'temporal:7233');
      assert.match(env.DATABASE_URL ?? '', /@postgres:5432\//);
    }
    const built = malipo.find(([, s]) => s.build)?.[1];
    assert.ok(built, 'one service builds the image');
    assert.ok(fs.existsSync(path.join(ROOT, 'deploy', built.build.context, built.build.dockerfile)));
    assert.ok(services.postgres && services.temporal && services.proxy, 'PostgreSQL, Temporal, a proxy');
    assert.deepEqual(services.proxy.command.slice(-2), ['--to', 'malipo-api:3000']);
  });

  it("creates exactly Malipo's search attributes on the cluster", () => {
    const script = String(compose.services['temporal-search-attributes'].command.at(-1));
    const created = Object.fromEntries(
      [...script.matchAll(/--name (\w+) --type (\w+)/g)].map((m) => [m[1], m[2]]),
    );
    assert.deepEqual(created, SEARCH_ATTRIBUTES);
  });
});

describe('deploy/k8s', () => {
  const files = fs.readdirSync(path.join(ROOT, 'deploy', 'k8s')).filter((f) => f.endsWith('.yaml'));
  const docs = files.flatMap((f) => parseYaml(`deploy/k8s/${f}`).map((d) => ({ file: f, d })));
  const configMap = docs.find(({ d }) => d.kind === 'ConfigMap')?.d;

  it('every manifest is a known kind with a name', () => {
    assert.ok(files.length >= 3, files.join(', '));
    const kinds: Record<string, string> = {
      ConfigMap: 'v1',
      Service: 'v1',
      Deployment: 'apps/v1',
      Ingress: 'networking.k8s.io/v1',
    };
    for (const { file, d } of docs) {
      assert.equal(d.apiVersion, kinds[d.kind], `${file}: ${d.kind}`);
      assert.match(d.metadata?.name ?? '', /^[a-z0-9-]+$/, `${file}: metadata.name`);
    }
  });

  it('runs the api and the worker with the real commands, the real variables and the real health routes', () => {
    const deployments = docs.filter(({ d }) => d.kind === 'Deployment').map(({ d }) => d);
    assert.deepEqual(deployments.map((d) => d.spec.template.spec.containers[0].args[0]).sort(), [
      'api',
      'worker',
    ]);
    for (const d of deployments) {
      const where = `k8s ${d.metadata.name}`;
      assert.deepEqual(d.spec.selector.matchLabels, d.spec.template.metadata.labels, `${where}: selector`);
      const [c] = d.spec.template.spec.containers;
      assert.ok(COMMANDS.has(c.args[0]), `${where}: malipo ${c.args[0]} exists`);
      assert.ok(d.spec.replicas >= 2, `${where}: several processes`);
      assert.deepEqual(c.envFrom, [{ configMapRef: { name: configMap.metadata.name } }]);
      const env: Record<string, string> = { ...configMap.data };
      for (const e of c.env) {
        assert.equal(e.valueFrom.secretKeyRef.key, e.name, `${where}: ${e.name} from the secret`);
        if (!e.valueFrom.secretKeyRef.optional) env[e.name] = STAND_INS[e.name]!;
      }
      for (const e of c.env)
        assert.ok(KNOWN_VARS.has(e.name), `${where}: ${e.name} is not a Malipo variable`);
      checkMalipoEnv(where, env);
      if (c.args[0] === 'api') {
        assert.equal(c.ports[0].containerPort, Number(env.PORT));
        assert.equal(c.livenessProbe.httpGet.path, '/healthz');
        assert.equal(c.readinessProbe.httpGet.path, '/readyz');
      }
    }
    const service = docs.find(({ d }) => d.kind === 'Service')?.d;
    const api = deployments.find((d) => d.spec.template.spec.containers[0].args[0] === 'api');
    assert.deepEqual(
      service.spec.selector,
      api.spec.template.metadata.labels,
      'the Service selects the API pods',
    );
    const ingress = docs.find(({ d }) => d.kind === 'Ingress')?.d;
    assert.equal(ingress.spec.rules[0].http.paths[0].backend.service.name, service.metadata.name);
    assert.equal(`https://${ingress.spec.rules[0].host}`, configMap.data.MALIPO_PUBLIC_URL);
  });

  it('the health routes the probes use exist', () => {
    assert.deepEqual(healthRoutes.map((r) => r.path).sort(), ['/healthz', '/readyz']);
  });
});

describe('deploy/Dockerfile', () => {
  it("starts bin/malipo, and copies every folder the CLI's code lives in", () => {
    const text = fs.readFileSync(path.join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
    assert.match(text, /^ENTRYPOINT \["bin\/malipo"\]$/m);
    assert.ok(fs.existsSync(path.join(ROOT, 'bin', 'malipo')));
    const copied = [...text.matchAll(/^COPY (\S+) /gm)].map((m) => m[1]);
    for (const dir of ['bin', 'src', 'workflows', 'activities']) assert.ok(copied.includes(dir), dir);
  });
});
