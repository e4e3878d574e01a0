/**
 * The types a dashboard page module sees: its context, what it returns, the registry it adds pages to.
 * Types only, so the page modules and router.ts both import them without a circle.
 */
import type { Request, Response } from 'express';
import type { Session } from '../accounts/sessions';
import type { AppDeps } from '../http/deps';
import type { SafeHtml } from '../http/html';
import type { AuthContext, Scope } from '../platform/scopes';
import type { Flash, FrameContext, PageOptions } from './layout';

/** What a handler returns. */
export type PageResult =
  | { kind: 'html'; status: number; body: SafeHtml }
  | { kind: 'redirect'; to: string }
  | {
      kind: 'raw';
      status: number;
      contentType: string;
      body: string | Buffer;
      headers?: Record<string, string>;
    }
  | { kind: 'sent' };

export interface BaseContext {
  req: Request;
  res: Response;
  deps: AppDeps;
  requestId: string;
  /** Route params (`:id`). */
  params: Record<string, string>;
  /** Query string values (first value of each). */
  query: Record<string, string>;
  /** The posted form (first value of each field); `{}` on GET. */
  form: Record<string, string>;
  /** The hidden `_csrf` input every form of this page must carry. */
  csrf: SafeHtml;
  /** The request time (injectable in tests through deps.rateLimit.now). */
  now: Date;
  /** A message for the next page this browser loads (after a redirect). */
  flash(kind: Flash['kind'], text: string): void;
  redirect(to: string): PageResult;
  raw(contentType: string, body: string | Buffer, headers?: Record<string, string>): PageResult;
}

/** A signed-in page's context. `auth` is what callApi checks. */
export interface PageContext extends BaseContext, FrameContext {
  session: Session;
  auth: AuthContext;
  render(opts: PageOptions, status?: number): PageResult;
}

/** A signed-out page's context; `session` is set when the browser is signed in anyway. */
export interface PublicContext extends BaseContext {
  session: Session | undefined;
  flashMessage: Flash | undefined;
  render(opts: { title: string; body: SafeHtml }, status?: number): PageResult;
  /** Signs this browser in: a new session row and its cookie. */
  setSessionCookie(token: string, expiresAt: Date): void;
}

export interface RouteOptions {
  /** The scope the page needs (the API's rule: 403 MISSING_SCOPE without it). */
  scope?: Scope;
  /** Team management: owners only (403 FORBIDDEN otherwise). */
  ownerOnly?: boolean;
}

export type PageHandler = (ctx: PageContext) => Promise<PageResult> | PageResult;
export type PublicHandler = (ctx: PublicContext) => Promise<PageResult> | PageResult;

export interface PageRegistry {
  get(path: string, handler: PageHandler, opts?: RouteOptions): void;
  post(path: string, handler: PageHandler, opts?: RouteOptions): void;
  publicGet(path: string, handler: PublicHandler): void;
  publicPost(path: string, handler: PublicHandler): void;
}

export type PageModule = (pages: PageRegistry) => void;
