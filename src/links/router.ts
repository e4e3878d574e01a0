/**
 * The public pay pages under /pay (no key; limited per client IP, IPv6 by /64; prompts also per phone
 * and per link, see pay.ts):
 *   GET  /pay/:linkId                                  the form (HTML)
 *   POST /pay/:linkId                                  form post → 303 to the payment page; JSON → 202 JSON
 *   GET  /pay/:linkId/payments/:paymentId              the payment's state (HTML; refreshes itself)
 *   GET  /pay/:linkId/payments/:paymentId/status       `{ status, mpesaReceipt?, message? }` only
 *   GET  /pay/assets/pay.css, /pay/assets/pay.js       the page's own style and script
 * A router mounted with app.use, not API routes: these are pages, kept out of the OpenAPI document.
 */
import express, { type Request, type Response, type Router } from 'express';
import { MalipoError } from '../domain/errors';
import { sendError } from '../http/errors';
import type { AppDeps } from '../http/deps';
import { ipRateLimit, type RateLimitStore } from '../http/middleware/rate-limit';
import { findMerchant } from '../platform/merchants';
import { PAY_CSS, PAY_ICON, PAY_JS } from './assets';
import { LinkRepository, type LinkRow, type LinkStatus } from './links';
import {
  contentSecurityPolicy,
  type PageMeta,
  renderForm,
  renderMessage,
  renderPayment,
  renderUnavailable,
} from './page';
import { FormTokens } from './form-token';
import { type FieldErrors, LinkPayments, publicState } from './pay';
import { LinkSlots } from './slots';

export interface PayRouterOptions {
  store: RateLimitStore;
  now?: (() => number) | undefined;
}

const cache = new WeakMap<object, LinkRepository>();

/** The link repository for an app's deps (built once per deps object). */
export function linksOf(deps: Pick<AppDeps, 'db' | 'secretBox' | 'config'>): LinkRepository {
  let links = cache.get(deps);
  if (!links) {
    links = new LinkRepository(deps.db, deps.secretBox, deps.config.publicUrl);
    cache.set(deps, links);
  }
  return links;
}

/** The secret of the pay form tokens, derived from the encryption key like the callback secret. */
export function formTokenSecretOf(deps: Pick<AppDeps, 'secretBox'>): string {
  return deps.secretBox.derive('pay-form-tokens');
}

const fieldDetails = (errors: FieldErrors) =>
  Object.entries(errors).map(([path, message]) => ({ path, message, code: 'invalid' }));

function unavailableError(status: Exclude<LinkStatus, 'active'> | 'not_found'): MalipoError {
  return status === 'not_found'
    ? new MalipoError('RESOURCE_NOT_FOUND', 'Payment link not found')
    : new MalipoError('GONE', `This payment link is ${status}`, {
        details: [{ path: 'link', message: status, code: status }],
      });
}

export function createPayRouter(deps: AppDeps, opts: PayRouterOptions): Router {
  const r = express.Router();
  const tokens = new FormTokens(formTokenSecretOf(deps), opts.now ?? Date.now);
  const lp = new LinkPayments(linksOf(deps), deps.payments, {
    tokens,
    slots: new LinkSlots(deps.db),
    store: opts.store,
    limits: {
      promptsPerPhonePerHour: deps.config.MALIPO_PAY_PROMPTS_PER_PHONE_PER_HOUR,
      promptsPerLinkPerMinute: deps.config.MALIPO_PAY_PROMPTS_PER_LINK_PER_MINUTE,
    },
    phoneBucketSecret: deps.secretBox.derive('pay-phone-buckets'),
    now: opts.now,
  });
  const https = deps.config.publicUrl.startsWith('https:');
  const perMinute = deps.config.MALIPO_PUBLIC_RATE_LIMIT_PER_MINUTE;

  const html = (res: Response, status: number, body: string, logoUrl?: string | null) => {
    res.setHeader('Content-Security-Policy', contentSecurityPolicy({ logoUrl: logoUrl ?? null, https }));
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Robots-Tag', 'noindex');
    res.status(status).type('html').send(body);
  };
  const wantsJson = (req: Request) =>
    req.is('application/json') === 'application/json' || req.path.endsWith('/status');
  const onLimited = (req: Request, res: Response) => {
    if (wantsJson(req)) {
      sendError(
        res,
        new MalipoError('RATE_LIMIT_EXCEEDED', 'Too many requests from this address; try again shortly'),
      );
      return;
    }
    html(
      res,
      429,
      renderMessage('Too many attempts', 'Please wait a minute, then reload this page to try again.'),
    );
  };
  const limit = (bucket: string, n: number) =>
    ipRateLimit({
      store: opts.store,
      limit: n,
      bucket,
      onLimited,
      // one subscriber usually holds a whole /64: its addresses share one budget
      ipv6PrefixBits: 64,
      ...(opts.now ? { now: opts.now } : {}),
    });
  const viewLimit = limit('pay.view', perMinute * 10);
  const submitLimit = limit('pay.submit', perMinute);

  const metaOf = async (row: LinkRow): Promise<PageMeta> => ({
    merchantName: (await findMerchant(deps.db, row.merchant_id))?.name ?? 'the merchant',
  });

  r.get('/assets/pay.css', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.type('text/css').send(PAY_CSS);
  });
  r.get('/assets/icon.svg', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=86400');
    res.type('image/svg+xml').send(PAY_ICON);
  });
  r.get('/assets/pay.js', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.type('application/javascript').send(PAY_JS);
  });

  r.get('/:linkId', viewLimit, async (req, res) => {
    const found = await lp.load(String(req.params.linkId));
    if (!found) return html(res, 404, renderUnavailable('not_found'));
    const meta = await metaOf(found.row);
    if (found.status !== 'active') {
      return html(res, 410, renderUnavailable(found.status, { row: found.row, meta }), found.row.logo_url);
    }
    html(res, 200, renderForm(found.row, meta, { formKey: tokens.issue(found.row.id) }), found.row.logo_url);
  });

  r.post(
    '/:linkId',
    submitLimit,
    express.urlencoded({ extended: false, limit: '8kb' }),
    express.json({ limit: '8kb', type: 'application/json' }),
    async (req, res) => {
      const json = req.is('application/json') === 'application/json';
      const linkId = String(req.params.linkId);
      const form = (req.body ?? {}) as Record<string, unknown>;
      let outcome: Awaited<ReturnType<LinkPayments['pay']>>;
      try {
        outcome = await lp.pay(linkId, form);
      } catch (err) {
        if (json) throw err;
        req.log?.error({ err, linkId }, 'pay page: the payment could not be started');
        return html(
          res,
          503,
          renderMessage(
            'The payment could not be started',
            'Nothing was charged. Please go back and try again in a moment.',
          ),
        );
      }
      if (outcome.kind === 'unavailable') {
        if (json) throw unavailableError(outcome.status);
        const found = await lp.load(linkId);
        return html(
          res,
          outcome.status === 'not_found' ? 404 : 410,
          renderUnavailable(
            outcome.status,
            found ? { row: found.row, meta: await metaOf(found.row) } : undefined,
          ),
        );
      }
      if (outcome.kind === 'refused') {
        const headers: Record<string, string> =
          outcome.retryAfterSeconds !== undefined ? { 'Retry-After': String(outcome.retryAfterSeconds) } : {};
        if (json) throw new MalipoError(outcome.code, outcome.message, { headers });
        const found = await lp.load(linkId);
        if (!found) return html(res, 404, renderUnavailable('not_found'));
        for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
        // the token was not spent: the same form may be sent again later
        return html(
          res,
          outcome.code === 'CONFLICT' ? 409 : 429,
          renderForm(found.row, await metaOf(found.row), {
            formKey: String(form.formKey),
            phone: typeof form.phone === 'string' ? form.phone.slice(0, 40) : '',
            amount: typeof form.amount === 'string' ? form.amount.slice(0, 20) : '',
            errors: { form: outcome.message },
          }),
          found.row.logo_url,
        );
      }
      if (outcome.kind === 'invalid') {
        if (json) {
          throw new MalipoError(
            outcome.errors.phone && !outcome.errors.amount ? 'INVALID_PHONE_NUMBER' : 'VALIDATION_ERROR',
            outcome.errors.form ?? 'The form is invalid',
            { details: fieldDetails(outcome.errors) },
          );
        }
        const found = await lp.load(linkId);
        if (!found) return html(res, 404, renderUnavailable('not_found'));
        // a form whose token passed keeps it (nothing was paid); any other gets a fresh one
        const formKey =
          typeof form.formKey === 'string' && !outcome.errors.form
            ? form.formKey
            : tokens.issue(found.row.id);
        return html(
          res,
          400,
          renderForm(found.row, await metaOf(found.row), {
            formKey,
            phone: typeof form.phone === 'string' ? form.phone.slice(0, 40) : '',
            amount: typeof form.amount === 'string' ? form.amount.slice(0, 20) : '',
            errors: outcome.errors,
          }),
          found.row.logo_url,
        );
      }
      const p = outcome.payment;
      const pageUrl = `/pay/${linkId}/payments/${p.id}`;
      if (json) {
        res.setHeader('Cache-Control', 'no-store');
        res.status(202).json({ id: p.id, ...publicState(p), statusUrl: `${pageUrl}/status`, pageUrl });
        return;
      }
      res.redirect(303, pageUrl);
    },
  );

  r.get('/:linkId/payments/:paymentId', viewLimit, async (req, res) => {
    const found = await lp.state(String(req.params.linkId), String(req.params.paymentId));
    if (!found) return html(res, 404, renderUnavailable('not_found'));
    html(res, 200, renderPayment(found.link, await metaOf(found.link), found.payment), found.link.logo_url);
  });

  r.get('/:linkId/payments/:paymentId/status', viewLimit, async (req, res) => {
    const found = await lp.state(String(req.params.linkId), String(req.params.paymentId));
    if (!found) throw new MalipoError('RESOURCE_NOT_FOUND', 'Payment not found');
    res.setHeader('Cache-Control', 'no-store');
    res.json(publicState(found.payment));
  });

  return r;
}
