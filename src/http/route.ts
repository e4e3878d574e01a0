/**
 * One route definition feeds both express and the OpenAPI document.
 *
 * How to add a route: in `src/http/routes/<area>.ts`, declare the zod schemas beside the handler and export
 * `defineRoute({ method, path, scope, summary, request: { params, query, body }, responses, handler })`
 * (path in express syntax, `/v1/things/:id`; `scope: null` for a public route, otherwise the scope the
 * key must hold; `rateLimit: 'creation'` for payment/payout creation, which has the lower limit; `errors`
 * lists the extra error codes the route can answer, for the document). Then add the export to the route
 * list in `src/http/app.ts`. mountRoutes() registers it as authenticate → rate limit → scope → validate
 * (bad params/query/body → 400 VALIDATION_ERROR listing each field) → handler; the handler returns
 * `{ status, body }`, and the body is parsed by the response schema for that status before it is sent,
 * so undeclared fields never leave the process. buildOpenApiDocument() turns the same list into OpenAPI 3.1,
 * and a test checks that every route express serves is in /openapi.json.
 */
import type { Express, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { type ErrorCode, MalipoError } from '../domain/errors';
import type { Actor } from '../platform/audit';
import type { AuthContext, Scope } from '../platform/scopes';
import type { AppDeps } from './deps';
import { parseOrThrow } from './errors';
import { assertScope, authOf, requireScope } from './middleware/auth';
import type { RateLimitClass } from './middleware/rate-limit';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface ResponseSpec {
  description: string;
  /** Omit for an empty body (204). */
  schema?: z.ZodType;
  /** Non-JSON bodies this status may also carry, by media type (e.g. `image/png`), with a description. */
  binary?: Record<string, string>;
}
export type Responses = { [status: number]: ResponseSpec };

type Out<T> = T extends z.ZodType ? z.output<T> : undefined;
type BodyOf<S extends ResponseSpec> = S['schema'] extends z.ZodType ? z.input<S['schema']> : undefined;

/** What a handler returns, made by `ctx.reply(status, body)`. */
export interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Record<string, string> | undefined;
  /** A non-JSON body instead of `body`; its media type must be declared in the status's `binary`. */
  readonly binary?: { contentType: string; data: Buffer } | undefined;
  /** A streamed non-JSON body (large exports), written chunk by chunk; media type declared like `binary`. */
  readonly stream?: { contentType: string; chunks: AsyncIterable<string | Buffer> } | undefined;
}

export interface RouteContext<P, Q, B, S extends Scope | null, R extends Responses> {
  params: Out<P>;
  query: Out<Q>;
  body: Out<B>;
  /** The caller's key; undefined on public routes. */
  auth: S extends Scope ? AuthContext : undefined;
  /** For the audit log: the key id (or `anonymous` on public routes) and the request id. */
  actor: Actor;
  requestId: string;
  deps: AppDeps;
  req: Request;
  res: Response;
  /** One of the declared statuses, with a body its schema accepts (checked by the compiler). */
  reply<K extends keyof R & number>(status: K, body: BodyOf<R[K]>, headers?: Record<string, string>): Reply;
}

export interface RouteSpec<
  P extends z.ZodType | undefined,
  Q extends z.ZodType | undefined,
  B extends z.ZodType | undefined,
  R extends Responses,
  S extends Scope | null,
> {
  method: HttpMethod;
  /** Express syntax: `/v1/channels/:id`. */
  path: string;
  /** The scope a key needs, or null for a public route (no key, no rate limit). */
  scope: S;
  /** `creation` for payment and payout creation (the lower limit); `standard` otherwise (default). */
  rateLimit?: RateLimitClass;
  summary: string;
  description?: string;
  tags?: string[];
  request?: { params?: P; query?: Q; body?: B };
  responses: R;
  /** Error codes beyond the automatic ones (validation, auth, scope, rate limit, 500), for the document. */
  errors?: ErrorCode[];
  /** Keep out of the OpenAPI document (internal endpoints such as Daraja callbacks). */
  hidden?: boolean;
  handler: (ctx: RouteContext<P, Q, B, S, R>) => NoInfer<Promise<Reply> | Reply>;
}

/** A route with its types erased, as mountRoutes and the document builder see it. */
export interface RouteDef {
  method: HttpMethod;
  path: string;
  scope: Scope | null;
  rateLimit: RateLimitClass;
  summary: string;
  description?: string | undefined;
  tags: string[];
  request: { params?: z.ZodType | undefined; query?: z.ZodType | undefined; body?: z.ZodType | undefined };
  responses: Responses;
  errors: ErrorCode[];
  hidden: boolean;
  handler: (ctx: ErasedContext) => Promise<Reply> | Reply;
}
type ErasedContext = Omit<
  RouteContext<undefined, undefined, undefined, null, Responses>,
  'params' | 'query' | 'body' | 'auth' | 'reply'
> & {
  params: unknown;
  query: unknown;
  body: unknown;
  auth: AuthContext | undefined;
  reply(status: number, body: unknown, headers?: Record<string, string>): Reply;
};

export function defineRoute<
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
  R extends Responses = Responses,
  S extends Scope | null = Scope | null,
>(spec: RouteSpec<P, Q, B, R, S>): RouteDef {
  return {
    method: spec.method,
    path: spec.path,
    scope: spec.scope,
    rateLimit: spec.rateLimit ?? 'standard',
    summary: spec.summary,
    description: spec.description,
    tags: spec.tags ?? [],
    request: { ...spec.request },
    responses: spec.responses,
    errors: spec.errors ?? [],
    hidden: spec.hidden ?? false,
    handler: spec.handler as unknown as RouteDef['handler'],
  };
}

export interface MountMiddleware {
  authenticate: RequestHandler;
  rateLimit: (cls: RateLimitClass) => RequestHandler;
}

/** `/v1/channels/:id` → `/v1/channels/{id}`. */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** What one call of a route gets besides its raw params, query and body. */
export interface InvokeInput {
  params?: unknown;
  query?: unknown;
  body?: unknown;
  /** The caller; required unless the route is public. Its scopes are checked against the route's. */
  auth: AuthContext | undefined;
  requestId: string;
  deps: AppDeps;
  req: Request;
  res: Response;
}

/** A route's answer after its response schema: `body` holds only declared fields. */
export interface InvokeResult {
  status: number;
  body: unknown;
  headers: Record<string, string>;
  binary?: { contentType: string; data: Buffer } | undefined;
  stream?: AsyncIterable<string | Buffer> | undefined;
  contentType?: string | undefined;
}

/**
 * One call of a route, the same for express (mountRoutes) and in-process callers (the dashboard's
 * callApi): scope → validate params, query, body (400 VALIDATION_ERROR listing each field) → handler →
 * the reply checked against the declared status and parsed by its response schema.
 */
export async function invokeRoute(route: RouteDef, input: InvokeInput): Promise<InvokeResult> {
  let auth: AuthContext | undefined;
  if (route.scope !== null) {
    if (!input.auth) throw new Error(`${route.method} ${route.path} reached without authentication`);
    assertScope(input.auth, route.scope);
    auth = input.auth;
  }
  const params = route.request.params ? parseOrThrow(route.request.params, input.params, 'path') : undefined;
  const query = route.request.query ? parseOrThrow(route.request.query, input.query, 'query') : undefined;
  const body = route.request.body ? parseOrThrow(route.request.body, input.body ?? {}, 'body') : undefined;
  const reply = await route.handler({
    params,
    query,
    body,
    auth,
    actor: { actor: auth?.keyId ?? 'anonymous', requestId: input.requestId },
    requestId: input.requestId,
    deps: input.deps,
    req: input.req,
    res: input.res,
    reply: (status, body, headers) => ({ status, body, headers }),
  });
  const spec = route.responses[reply.status];
  if (!spec) throw new Error(`${route.method} ${route.path} answered undeclared status ${reply.status}`);
  const headers = { ...reply.headers };
  if (reply.binary || reply.stream) {
    const type = reply.binary?.contentType ?? reply.stream?.contentType ?? '';
    if (!spec.binary?.[type]) throw new Error(`${route.method} ${route.path} answered undeclared ${type}`);
    return reply.binary
      ? { status: reply.status, body: undefined, headers, binary: reply.binary }
      : { status: reply.status, body: undefined, headers, stream: reply.stream?.chunks, contentType: type };
  }
  if (!spec.schema) return { status: reply.status, body: undefined, headers };
  // the response schema is the allow-list of what leaves the process
  const out = spec.schema.safeParse(reply.body);
  if (!out.success) {
    throw new MalipoError(
      'INTERNAL_ERROR',
      'Something went wrong on our side; the request id helps us find it',
      {
        cause: new Error(
          `${route.method} ${route.path}: response does not match its schema: ${out.error.message}`,
        ),
      },
    );
  }
  return { status: reply.status, body: out.data, headers };
}

function handlerFor(route: RouteDef, deps: AppDeps): RequestHandler {
  return async (req, res) => {
    res.locals.route = route.path;
    const out = await invokeRoute(route, {
      params: req.params,
      query: req.query,
      body: req.body,
      auth: route.scope === null ? undefined : authOf(res),
      requestId: String(res.locals.requestId ?? ''),
      deps,
      req,
      res,
    });
    for (const [k, v] of Object.entries(out.headers)) res.setHeader(k, v);
    if (out.binary) {
      res.status(out.status).type(out.binary.contentType).send(out.binary.data);
      return;
    }
    if (out.stream) {
      res.status(out.status).type(out.contentType ?? 'application/octet-stream');
      await pipeChunks(out.stream, res);
      return;
    }
    if (out.body === undefined && !route.responses[out.status]?.schema) {
      res.status(out.status).end();
      return;
    }
    res.status(out.status).json(out.body);
  };
}

/** Writes chunks with backpressure; a failure after the first byte ends the response (headers are gone). */
export async function pipeChunks(chunks: AsyncIterable<string | Buffer>, res: Response): Promise<void> {
  try {
    for await (const chunk of chunks) {
      if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', () => resolve()));
    }
    res.end();
  } catch (err) {
    if (!res.headersSent) throw err;
    res.destroy(err instanceof Error ? err : new Error(String(err)));
  }
}

/** Registers each route on the app: authenticate → rate limit → scope → validate → handler. */
export function mountRoutes(app: Express, routes: RouteDef[], deps: AppDeps, mw: MountMiddleware): void {
  const seen = new Set<string>();
  for (const route of routes) {
    const id = `${route.method} ${route.path}`;
    if (seen.has(id)) throw new Error(`route defined twice: ${id}`);
    seen.add(id);
    const chain: RequestHandler[] = [];
    if (route.scope !== null) {
      chain.push(mw.authenticate, mw.rateLimit(route.rateLimit), requireScope(route.scope));
    }
    chain.push(handlerFor(route, deps));
    app[route.method](route.path, ...chain);
  }
}
