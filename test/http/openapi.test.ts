/** /openapi.json is OpenAPI 3.1, generated from the route definitions, and lists every route express serves. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { Express } from 'express';
import { API_ROUTES, createApp } from '../../src/http/app';
import { DOCS_UI_PATHS } from '../../src/http/openapi';
import { openApiPath } from '../../src/http/route';
import { expectEnvelope, startTestApp, type TestApp } from '../helpers/http';

/** The method + path of every route layer registered on the app (middleware mounts are not routes). */
function expressRoutes(app: Express): string[] {
  const router = (
    app as unknown as {
      router: { stack: Array<{ route?: { path: string; methods: Record<string, boolean> } }> };
    }
  ).router;
  const out: string[] = [];
  for (const layer of router.stack) {
    if (!layer.route) continue;
    for (const [method, on] of Object.entries(layer.route.methods)) {
      if (on && method !== '_all') out.push(`${method} ${layer.route.path}`);
    }
  }
  return out.sort();
}

// biome-ignore lint/suspicious/noExplicitAny: walking an arbitrary JSON document
type Json = any;

function resolvePointer(doc: Json, ref: string): unknown {
  assert.ok(ref.startsWith('#/'), `only local refs: ${ref}`);
  return ref
    .slice(2)
    .split('/')
    .reduce(
      (node: Json, part) =>
        node === undefined ? undefined : node[part.replace(/~1/g, '/').replace(/~0/g, '~')],
      doc,
    );
}

function collectRefs(node: Json, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) collectRefs(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else collectRefs(v, out);
    }
  }
  return out;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

describe('/openapi.json and /docs', () => {
  let t: TestApp;
  let doc: Json;

  before(async () => {
    t = await startTestApp();
    const r = await t.request('GET', '/openapi.json');
    assert.equal(r.status, 200);
    doc = r.body;
  });
  after(() => t.close());

  it('validates against the OpenAPI 3.1 schema', async () => {
    const validator = new Validator();
    const result = await validator.validate(doc);
    assert.equal(validator.version, '3.1');
    assert.equal(result.valid, true, JSON.stringify(result.errors));
  });

  it('is a structurally valid OpenAPI 3.1 document', () => {
    assert.match(doc.openapi, /^3\.1\.\d+$/);
    assert.equal(typeof doc.info?.title, 'string');
    assert.equal(typeof doc.info?.version, 'string');
    assert.equal(typeof doc.paths, 'object');
    assert.deepEqual(doc.components.securitySchemes.bearerAuth, {
      type: 'http',
      scheme: 'bearer',
      description: 'An API key: mlp_test_… or mlp_live_…',
    });
    const operationIds = new Set<string>();
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      assert.match(path, /^\//);
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((x) => x[1]);
      for (const [method, op] of Object.entries<Json>(item)) {
        assert.ok(METHODS.includes(method), `${path}: ${method} is an HTTP method`);
        assert.ok(
          op.operationId && !operationIds.has(op.operationId),
          `${method} ${path}: unique operationId`,
        );
        operationIds.add(op.operationId);
        const statuses = Object.keys(op.responses ?? {});
        assert.ok(statuses.length > 0, `${method} ${path} has responses`);
        for (const s of statuses) {
          assert.match(s, /^[1-5]\d\d$/);
          assert.equal(typeof op.responses[s].description, 'string');
        }
        assert.ok(statuses.includes('500'), `${method} ${path} documents 500`);
        const pathParams = (op.parameters ?? []).filter((p: Json) => p.in === 'path');
        assert.deepEqual(
          pathParams.map((p: Json) => p.name).sort(),
          [...templated].sort(),
          `${method} ${path}: every templated parameter is declared`,
        );
        for (const p of pathParams) assert.equal(p.required, true);
        if (op.security?.length) {
          assert.ok(op['x-malipo-scope'], `${method} ${path} names its scope`);
          for (const s of ['401', '403', '429'])
            assert.ok(statuses.includes(s), `${method} ${path} documents ${s}`);
        }
      }
    }
    for (const ref of collectRefs(doc)) assert.ok(resolvePointer(doc, ref), `${ref} resolves`);
    assert.ok(doc.components.schemas.ErrorEnvelope);
    assert.ok(doc.components.schemas.Channel);
  });

  it('lists every route the app serves, and nothing else', () => {
    const app = createApp(t.deps);
    // Daraja's callback routes are served but kept out of the public document on purpose
    const hidden = new Set(API_ROUTES.filter((r) => r.hidden).map((r) => `${r.method} ${r.path}`));
    assert.ok(hidden.size > 0, 'the callback route is hidden');
    const served = expressRoutes(app).filter(
      (r) => !DOCS_UI_PATHS.includes(r.split(' ')[1]!) && !hidden.has(r),
    );
    const documented = Object.entries<Json>(doc.paths)
      .flatMap(([path, item]) => Object.keys(item).map((m) => `${m} ${path}`))
      .sort();
    assert.deepEqual(
      served
        .map((r) => {
          const [m, p] = r.split(' ');
          return `${m} ${openApiPath(p!)}`;
        })
        // sorted as documented: `{id}` sorts after letters, `:id` before them
        .sort(),
      documented,
    );
    for (const r of [
      'post /v1/channels',
      'patch /v1/channels/{id}',
      'post /v1/keys/{id}/rotate',
      'get /openapi.json',
    ]) {
      assert.ok(documented.includes(r), r);
    }
  });

  it('documents request bodies from the zod schemas, secrets write-only in the response', () => {
    const post = doc.paths['/v1/channels'].post;
    const schema = post.requestBody.content['application/json'].schema;
    const body = schema.$ref ? resolvePointer(doc, schema.$ref) : schema;
    assert.ok((body as Json).required.includes('passkey'));
    const channel = doc.components.schemas.Channel;
    assert.ok(channel.properties.credentials);
    assert.equal(post['x-malipo-scope'], 'channels:write');
  });

  it('serves the interactive reference from the npm package', async () => {
    const html = await t.request('GET', '/docs');
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-type') ?? '', /text\/html/);
    assert.match(html.text, /swagger-ui-bundle\.js/);
    assert.doesNotMatch(html.text, /https?:\/\/(cdn|unpkg|jsdelivr)/);
    const js = await t.request('GET', '/docs/swagger-ui-bundle.js');
    assert.equal(js.status, 200);
    assert.ok(js.text.length > 100_000);
    const init = await t.request('GET', '/docs/swagger-initializer.js');
    assert.match(init.text, /\/openapi\.json/);
    expectEnvelope(await t.request('GET', '/docs/nope.js'), 404, 'RESOURCE_NOT_FOUND');
  });
});
