/**
 * The OpenAPI 3.1 document, generated from the route definitions (never written by hand), served at
 * GET /openapi.json, and an interactive reference at GET /docs served from the swagger-ui-dist package.
 */
import express, { type Express } from 'express';
import { getAbsoluteFSPath } from 'swagger-ui-dist';
import { z } from 'zod';
import {
  createDocument,
  type ZodOpenApiOperationObject,
  type ZodOpenApiPathsObject,
  type ZodOpenApiResponseObject,
} from 'zod-openapi';
import { ERROR_STATUS, type ErrorCode } from '../domain/errors';
import { defineRoute, openApiPath, type RouteDef } from './route';

export const ErrorEnvelopeSchema = z
  .object({
    message: z.string(),
    error: z.object({
      code: z.enum(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      details: z
        .array(z.object({ path: z.string(), message: z.string(), code: z.string() }).loose())
        .optional()
        .meta({ description: 'For VALIDATION_ERROR, one entry per invalid field.' }),
    }),
    requestId: z.string().meta({ description: 'Also in the x-request-id header.' }),
  })
  .meta({ id: 'ErrorEnvelope', description: 'The one shape of every error response.' });

const RateLimitHeaders = z.object({
  'Retry-After': z.string().meta({ description: 'Seconds until the window resets.' }),
  'RateLimit-Limit': z
    .string()
    .meta({ description: 'Requests allowed per minute for this key and route class.' }),
  'RateLimit-Remaining': z.string(),
  'RateLimit-Reset': z.string().meta({ description: 'Seconds until the window resets.' }),
});

/** Error codes every route of a given kind can answer. */
function automaticErrors(route: RouteDef): ErrorCode[] {
  const codes: ErrorCode[] = ['INTERNAL_ERROR'];
  if (route.request.body || route.request.query || route.request.params) codes.push('VALIDATION_ERROR');
  if (route.request.body) codes.push('MALFORMED_JSON', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE');
  if (route.scope !== null)
    codes.push('UNAUTHORIZED', 'INVALID_API_KEY', 'MISSING_SCOPE', 'RATE_LIMIT_EXCEEDED');
  return codes;
}

function operation(route: RouteDef): ZodOpenApiOperationObject {
  const responses: Record<string, ZodOpenApiResponseObject> = {};
  for (const [status, spec] of Object.entries(route.responses)) {
    const binary = Object.keys(spec.binary ?? {}).map((type) => [
      type,
      { schema: { type: 'string' as const, contentMediaType: type, description: spec.binary?.[type] } },
    ]);
    responses[status] = {
      description: spec.description,
      ...(spec.schema || binary.length > 0
        ? {
            content: {
              ...(spec.schema ? { 'application/json': { schema: spec.schema } } : {}),
              ...Object.fromEntries(binary),
            },
          }
        : {}),
    };
  }
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set([...automaticErrors(route), ...route.errors])) {
    const status = ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    if (responses[String(status)]) continue;
    responses[String(status)] = {
      description: codes.join(', '),
      content: { 'application/json': { schema: ErrorEnvelopeSchema } },
      ...(status === 429 ? { headers: RateLimitHeaders } : {}),
    };
  }
  const scopeNote = route.scope ? `Requires an API key with the \`${route.scope}\` scope.` : 'Public.';
  return {
    operationId: `${route.method}${openApiPath(route.path)
      .split(/[/{}_-]+/)
      .filter(Boolean)
      .map((w) => w[0]!.toUpperCase() + w.slice(1))
      .join('')}`,
    summary: route.summary,
    description: [route.description, scopeNote].filter(Boolean).join('\n\n'),
    ...(route.tags.length ? { tags: route.tags } : {}),
    security: route.scope ? [{ bearerAuth: [] }] : [],
    ...(route.scope ? { 'x-malipo-scope': route.scope, 'x-malipo-rate-limit': route.rateLimit } : {}),
    ...(route.request.params || route.request.query
      ? {
          requestParams: {
            // biome-ignore lint/suspicious/noExplicitAny: zod-openapi wants object schemas; ours are z.object(...)
            ...(route.request.params ? { path: route.request.params as any } : {}),
            // biome-ignore lint/suspicious/noExplicitAny: as above
            ...(route.request.query ? { query: route.request.query as any } : {}),
          },
        }
      : {}),
    ...(route.request.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: route.request.body } } } }
      : {}),
    responses: responses as ZodOpenApiOperationObject['responses'],
  };
}

export interface OpenApiOptions {
  version?: string;
  serverUrl?: string;
}

export function buildOpenApiDocument(routes: RouteDef[], opts: OpenApiOptions = {}) {
  const paths: ZodOpenApiPathsObject = {};
  for (const route of routes) {
    if (route.hidden) continue;
    const p = openApiPath(route.path);
    paths[p] = { ...paths[p], [route.method]: operation(route) };
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Malipo API',
      version: opts.version ?? '0.1.0',
      description:
        'Self-hostable M-Pesa payment gateway. Authenticate with `Authorization: Bearer mlp_test_…` or `mlp_live_…`. ' +
        'Every error response has the ErrorEnvelope shape; every response carries `x-request-id`.',
    },
    ...(opts.serverUrl ? { servers: [{ url: opts.serverUrl }] } : {}),
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key: mlp_test_… or mlp_live_…' },
      },
    },
    paths,
  });
}

/** GET /openapi.json: the document of `routes()` (which includes this route), built once. */
export function openApiRoute(routes: () => RouteDef[], opts: OpenApiOptions = {}): RouteDef {
  let cached: Record<string, unknown> | undefined;
  return defineRoute({
    method: 'get',
    path: '/openapi.json',
    scope: null,
    summary: 'This OpenAPI 3.1 document',
    tags: ['meta'],
    responses: {
      200: { description: 'The OpenAPI document', schema: z.record(z.string(), z.unknown()) },
    },
    handler: ({ reply }) => {
      cached ??= buildOpenApiDocument(routes(), opts) as unknown as Record<string, unknown>;
      return reply(200, cached);
    },
  });
}

/** Paths of the interactive reference: HTML and static assets, not API routes. */
export const DOCS_UI_PATHS = ['/docs', '/docs/swagger-initializer.js'];

const DOCS_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Malipo API reference</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css" />
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/swagger-ui-standalone-preset.js"></script>
    <script src="/docs/swagger-initializer.js"></script>
  </body>
</html>
`;

// a file, not an inline script, so helmet's Content-Security-Policy (script-src 'self') allows it
const DOCS_INIT = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: 'StandaloneLayout',
  });
};
`;

/** GET /docs from the swagger-ui-dist package (no CDN). */
export function registerDocsUi(app: Express): void {
  app.get('/docs', (_req, res) => {
    res.type('html').send(DOCS_HTML);
  });
  app.get('/docs/swagger-initializer.js', (_req, res) => {
    res.type('application/javascript').send(DOCS_INIT);
  });
  app.use('/docs', express.static(getAbsoluteFSPath(), { index: false, maxAge: '1h' }));
}
