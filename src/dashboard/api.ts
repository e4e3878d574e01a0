/**
 * The dashboard's only way to read or change merchant data: a `/v1` route definition, called in process
 * through the same invokeRoute as express (scope check by the same rule, the route's own zod schemas,
 * its handler, its response schema). What the API forbids, the dashboard cannot do, and the reverse.
 */
import type { Request, Response } from 'express';
import type { AppDeps } from '../http/deps';
import { type InvokeResult, invokeRoute, type RouteDef } from '../http/route';
import type { AuthContext } from '../platform/scopes';

/** Who calls: a signed-in session's AuthContext (keyId = the user's id) and the request being served. */
export interface ApiCaller {
  auth: AuthContext;
  deps: AppDeps;
  req: Request;
  res: Response;
  requestId: string;
}

export interface ApiInput {
  params?: Record<string, string> | undefined;
  /** Query values as the API receives them (strings); undefined and '' are left out. */
  query?: Record<string, string | number | undefined> | undefined;
  body?: unknown;
}

export interface ApiResult<T> extends Omit<InvokeResult, 'body'> {
  body: T;
}

const cleanQuery = (q: ApiInput['query']): Record<string, string> =>
  Object.fromEntries(
    Object.entries(q ?? {})
      .filter(([, v]) => v !== undefined && v !== '')
      .map(([k, v]) => [k, String(v)]),
  );

/**
 * Calls `route` as the session's user. Throws the route's MalipoError (VALIDATION_ERROR with each field,
 * MISSING_SCOPE, RESOURCE_NOT_FOUND, …); `T` is the route's response body type for the expected status.
 */
export async function callApi<T = unknown>(
  ctx: ApiCaller,
  route: RouteDef,
  input: ApiInput = {},
): Promise<ApiResult<T>> {
  const out = await invokeRoute(route, {
    params: input.params ?? {},
    query: cleanQuery(input.query),
    body: input.body,
    auth: ctx.auth,
    requestId: ctx.requestId,
    deps: ctx.deps,
    req: ctx.req,
    res: ctx.res,
  });
  return out as ApiResult<T>;
}
