/**
 * The merchant dashboard under /dashboard: server-rendered pages over the same /v1 route definitions.
 *
 * How to add a page:
 * 1. Create `src/dashboard/pages/<area>.ts` exporting a `PageModule` (from `./page-types`):
 *
 *        export const payoutPages: PageModule = (pages) => {
 *          pages.get('/payouts', async (ctx) => {
 *            const list = await callApi<PayoutList>(ctx, listPayoutsRoute, { query: ctx.query });
 *            return ctx.render({ title: 'Payouts', active: 'payouts', body: html`…${ctx.csrf}…` });
 *          });
 *          pages.post('/payouts/:id/cancel', async (ctx) => { …; return ctx.redirect('/dashboard/payouts'); },
 *            { scope: 'payouts:create' });
 *        };
 *
 *    Paths are relative to /dashboard. Read and change data only through `callApi(ctx, route, { params,
 *    query, body })` (src/dashboard/api.ts): it applies the route's scope rule and schemas, so a page can do
 *    exactly what the API allows the session's role. When a page needs data no route gives, add the /v1
 *    route first (src/http/route.ts) and call it.
 * 2. Add the module to `PAGE_MODULES` below.
 *
 * What every registered handler gets, already applied: a signed-in session (else a redirect to the sign-in
 * page), `ctx.auth` (the session's merchant, environment and role scopes; keyId = the user id), and on
 * POST the same-origin check (Origin, else Referer) and the session's CSRF token (`_csrf`, constant-time;
 * put `${ctx.csrf}` in every form) → 403 page when either fails. `opts.scope` checks a scope before the
 * handler (MISSING_SCOPE, the API's rule), `opts.ownerOnly` the team-management right. POST bodies are
 * `application/x-www-form-urlencoded` (16 KiB at most) in `ctx.form`. A handler returns
 * `ctx.render(…)`, `ctx.redirect(to)` (303; `ctx.flash(kind, text)` shows a message on the next page) or
 * `ctx.raw(…)` for a download. A MalipoError it throws becomes an error page with the code's status
 * (catch it with `formErrors(err)` to re-render a form with each field's message instead).
 * Signed-out pages (sign-in, sign-up, invites) use `pages.publicGet/publicPost`: same-origin check and a
 * pre-session CSRF cookie instead of the session's token.
 */
import crypto from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { findSession, type Session } from '../accounts/sessions';
import { canManageTeam } from '../accounts/roles';
import { MalipoError } from '../domain/errors';
import type { AppDeps } from '../http/deps';
import { toMalipoError } from '../http/errors';
import { html, strictCsp } from '../http/html';
import { assertScope } from '../http/middleware/auth';
import { DASHBOARD_CSS, DASHBOARD_ICON, DASHBOARD_JS } from './assets';
import { authPage, type Flash, page } from './layout';
import { accountPages } from './pages/account';
import { linkPages } from './pages/links';
import { channelPages } from './pages/channels';
import { keyPages } from './pages/keys';
import { overviewPages } from './pages/overview';
import { payoutPages } from './pages/payouts';
import { paymentPages } from './pages/payments';
import { settingsPages } from './pages/settings';
import { teamPages } from './pages/team';
import { webhookPages } from './pages/webhooks';
import {
  authContextOf,
  PRE_SESSION_COOKIE,
  parseCookies,
  SESSION_COOKIE,
  safeEqual,
  firstValues,
  sameOrigin,
} from './session';
import type {
  BaseContext,
  PageContext,
  PageHandler,
  PageModule,
  PageRegistry,
  PageResult,
  PublicContext,
  PublicHandler,
  RouteOptions,
} from './page-types';

const FLASH_COOKIE = 'malipo_flash';
const FORM_LIMIT = '16kb';

/** The page modules, in registration order. Add yours here (see the top of this file). */
export const PAGE_MODULES: PageModule[] = [
  accountPages,
  overviewPages,
  paymentPages,
  settingsPages,
  linkPages,
  payoutPages,
  teamPages,
  keyPages,
  channelPages,
  webhookPages,
];

export interface DashboardOptions {
  /** Modules beyond PAGE_MODULES (tests). */
  extraPages?: PageModule[] | undefined;
}

const csrfInput = (token: string) => html`<input type="hidden" name="_csrf" value="${token}">`;

export function createDashboardRouter(deps: AppDeps, opts: DashboardOptions = {}): Router {
  const r = express.Router();
  const secure = deps.config.isProduction;
  const https = deps.config.publicUrl.startsWith('https:');
  const now = () => new Date(deps.rateLimit?.now?.() ?? Date.now());
  const csp = strictCsp({ img: ['data:'], https });
  const form = express.urlencoded({ extended: false, limit: FORM_LIMIT, parameterLimit: 100 });

  const cookie = (res: Response, name: string, value: string, maxAgeSeconds: number) => {
    res.append(
      'Set-Cookie',
      `${name}=${value}; Path=/dashboard; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`,
    );
  };

  r.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', csp);
    // the same-origin check on POST reads Origin; helmet's no-referrer would make browsers send `null`
    res.setHeader('Referrer-Policy', 'same-origin');
    res.setHeader('X-Robots-Tag', 'noindex');
    next();
  });

  r.get('/assets/dashboard.css', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.type('text/css').send(DASHBOARD_CSS);
  });
  r.get('/assets/dashboard.js', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.type('application/javascript').send(DASHBOARD_JS);
  });
  r.get('/assets/icon.svg', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=86400');
    res.type('image/svg+xml').send(DASHBOARD_ICON);
  });

  const refuse = (res: Response, status: number, title: string, text: string, code?: string) => {
    res.setHeader('Cache-Control', 'no-store');
    res
      .status(status)
      .type('html')
      .send(
        authPage({
          title,
          body: html`<div class="card" id="error-page" data-code="${code ?? ''}"><p>${text}</p>${
            code ? html`<p class="muted small">Code: <span class="mono">${code}</span></p>` : ''
          }<p><a href="/dashboard/overview">Back to the dashboard</a></p></div>`,
        }).value,
      );
  };

  const send = (res: Response, out: PageResult) => {
    switch (out.kind) {
      case 'sent':
        return;
      case 'redirect':
        res.redirect(303, out.to);
        return;
      case 'raw':
        for (const [k, v] of Object.entries(out.headers ?? {})) res.setHeader(k, v);
        res.status(out.status).type(out.contentType).send(out.body);
        return;
      case 'html':
        res.setHeader('Cache-Control', 'no-store');
        res.status(out.status).type('html').send(out.body.value);
    }
  };

  const base = (req: Request, res: Response, csrfToken: string) => {
    const cookies = parseCookies(req.get('cookie'));
    let flashMessage: Flash | undefined;
    if (cookies[FLASH_COOKIE] && req.method === 'GET') {
      try {
        const f = JSON.parse(Buffer.from(cookies[FLASH_COOKIE], 'base64url').toString('utf8')) as Flash;
        if ((f.kind === 'ok' || f.kind === 'error') && typeof f.text === 'string') {
          flashMessage = { kind: f.kind, text: f.text.slice(0, 300) };
        }
      } catch {
        /* a mangled flash cookie shows nothing */
      }
      cookie(res, FLASH_COOKIE, '', 0);
    }
    const ctx: Omit<BaseContext, 'now'> & { flashMessage: Flash | undefined } = {
      req,
      res,
      deps,
      requestId: String(res.locals.requestId ?? ''),
      params: firstValues(req.params),
      query: firstValues(req.query),
      form: req.method === 'POST' ? firstValues(req.body) : {},
      csrf: csrfInput(csrfToken),
      flashMessage,
      flash: (kind, text) =>
        cookie(res, FLASH_COOKIE, Buffer.from(JSON.stringify({ kind, text })).toString('base64url'), 60),
      redirect: (to) => ({ kind: 'redirect', to }),
      raw: (contentType, body, headers) => ({ kind: 'raw', status: 200, contentType, body, headers }),
    };
    return ctx;
  };

  const sessionOf = async (req: Request, at: Date): Promise<Session | undefined> => {
    const token = parseCookies(req.get('cookie'))[SESSION_COOKIE];
    return token ? findSession(deps.db, token, at) : undefined;
  };

  const checkOrigin = (req: Request, res: Response): boolean => {
    if (req.method !== 'POST' || sameOrigin(req, deps.config.publicUrl)) return true;
    refuse(res, 403, 'Request refused', 'This form was not sent from a page of this dashboard.', 'FORBIDDEN');
    return false;
  };

  const wrap =
    (fn: (req: Request, res: Response) => Promise<void>) =>
    async (req: Request, res: Response, next: NextFunction): Promise<void> => {
      try {
        await fn(req, res);
      } catch (err) {
        next(err);
      }
    };

  const registry: PageRegistry = {
    get: (path, handler, o) => r.get(path, wrap(signedIn(handler, o))),
    post: (path, handler, o) => r.post(path, form, wrap(signedIn(handler, o))),
    publicGet: (path, handler) => r.get(path, wrap(signedOut(handler))),
    publicPost: (path, handler) => r.post(path, form, wrap(signedOut(handler))),
  };

  function signedIn(handler: PageHandler, o: RouteOptions = {}) {
    return async (req: Request, res: Response) => {
      if (!checkOrigin(req, res)) return;
      const at = now();
      const session = await sessionOf(req, at);
      if (!session) {
        if (req.method === 'GET') {
          res.redirect(303, `/dashboard/login?next=${encodeURIComponent(req.originalUrl)}`);
        } else {
          refuse(
            res,
            403,
            'Signed out',
            'Your session has ended. Sign in again, then repeat what you were doing.',
            'UNAUTHORIZED',
          );
        }
        return;
      }
      if (req.method === 'POST' && !safeEqual(String(firstValues(req.body)._csrf ?? ''), session.csrfToken)) {
        refuse(
          res,
          403,
          'Request refused',
          'The form had expired or was not sent from this dashboard. Reload the page and try again.',
          'FORBIDDEN',
        );
        return;
      }
      const auth = authContextOf(session);
      const b = base(req, res, session.csrfToken);
      const ctx: PageContext = {
        ...b,
        now: at,
        session,
        auth,
        path: req.originalUrl,
        render: (p, status = 200) => ({ kind: 'html', status, body: page(ctx, p) }),
      };
      if (o.scope) assertScope(auth, o.scope);
      if (o.ownerOnly && !canManageTeam(session.role)) {
        throw new MalipoError('FORBIDDEN', 'Only an owner of this business can manage its team');
      }
      send(res, await handler(ctx));
    };
  }

  function signedOut(handler: PublicHandler) {
    return async (req: Request, res: Response) => {
      if (!checkOrigin(req, res)) return;
      const at = now();
      let token = parseCookies(req.get('cookie'))[PRE_SESSION_COOKIE];
      if (req.method === 'POST') {
        if (!token || !safeEqual(String(firstValues(req.body)._csrf ?? ''), token)) {
          refuse(
            res,
            403,
            'Request refused',
            'The form had expired or was not sent from this dashboard. Reload the page and try again.',
            'FORBIDDEN',
          );
          return;
        }
      } else if (!token || !/^[A-Za-z0-9_-]{43}$/.test(token)) {
        token = crypto.randomBytes(32).toString('base64url');
        cookie(res, PRE_SESSION_COOKIE, token, 24 * 3600);
      }
      const b = base(req, res, token);
      const ctx: PublicContext = {
        ...b,
        now: at,
        session: await sessionOf(req, at),
        render: (p, status = 200) => ({
          kind: 'html',
          status,
          body: authPage({ ...p, flash: b.flashMessage }),
        }),
        setSessionCookie: (t, expiresAt) =>
          cookie(
            res,
            SESSION_COOKIE,
            t,
            Math.max(0, Math.floor((expiresAt.getTime() - at.getTime()) / 1000)),
          ),
      };
      send(res, await handler(ctx));
    };
  }

  for (const m of [...PAGE_MODULES, ...(opts.extraPages ?? [])]) m(registry);

  r.get('/', (_req, res) => res.redirect(303, '/dashboard/overview'));
  r.use((_req, res) =>
    refuse(res, 404, 'Page not found', 'There is no dashboard page at this address.', 'RESOURCE_NOT_FOUND'),
  );
  r.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = toMalipoError(err);
    if (e.status >= 500) req.log?.error({ err: e.cause ?? e, code: e.code }, 'dashboard page failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    const text =
      e.code === 'MISSING_SCOPE'
        ? `Your role does not allow this (${e.message.replace('This API key lacks', 'it needs')}).`
        : e.code === 'PAYLOAD_TOO_LARGE'
          ? 'The form is larger than 16 KiB.'
          : e.message;
    refuse(
      res,
      e.status,
      e.status === 403 ? 'Not allowed' : e.status === 404 ? 'Not found' : 'Something went wrong',
      text,
      e.code,
    );
  });
  return r;
}
