/** The express app: createApp(deps) wires middleware and routes; it holds no singletons. */
import express, { type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { Config } from '../config';
import { MalipoError } from '../domain/errors';
import { LastUsedTracker } from '../platform/keys';
import type { SecretBox } from '../platform/secret-box';
import type { AppDeps } from './deps';
import { errorHandler, notFoundHandler } from './errors';
import { hookRateLimit } from './hooks';
import { authenticate } from './middleware/auth';
import {
  MemoryRateLimitStore,
  PostgresRateLimitStore,
  type RateLimitStore,
  rateLimit,
} from './middleware/rate-limit';
import { openApiRoute, registerDocsUi } from './openapi';
import { limitJsonDepth } from './middleware/json-depth';
import { rejectNul } from './middleware/reject-nul';
import { requestId } from './request-id';
import { mountRoutes, type RouteDef } from './route';
import { c2bRoutes } from './routes/c2b';
import { channelRoutes } from './routes/channels';
import { channelTestRoutes } from './routes/channel-test';
import { healthRoutes } from './routes/health';
import { keyRoutes } from './routes/keys';
import { lookupRoutes } from './routes/lookups';
import { paymentLinkRoutes } from './routes/payment-links';
import { paymentLinkStatsRoutes } from './routes/payment-link-stats';
import { paymentRoutes } from './routes/payments';
import { payoutRoutes } from './routes/payouts';
import { reversalRoutes } from './routes/reversals';
import { resolutionRoutes } from './routes/resolutions';
import { webhookRoutes } from './routes/webhooks';
import { reportRoutes } from './routes/reports';
import { paymentTimelineRoutes } from './routes/payment-timeline';
import { createPayRouter } from '../links/router';
import type { PageModule } from '../dashboard/page-types';
import { createDashboardRouter } from '../dashboard/router';
import { PaymentService } from '../payments/service';
import { PayoutService } from '../payouts/service';
import { stkConfigFrom } from '../payments/settings';
import { payoutConfigFrom } from '../payouts/settings';
import { temporalDeliveryStarter } from '../webhooks/dispatch';
import { WebhookRepository } from '../webhooks/repository';

/** Every API route, in registration order. Add a route file's list here (see src/http/route.ts). */
export const API_ROUTES: RouteDef[] = [
  ...healthRoutes,
  ...channelRoutes,
  ...channelTestRoutes,
  ...c2bRoutes,
  ...keyRoutes,
  ...paymentRoutes,
  ...payoutRoutes,
  ...paymentLinkRoutes,
  ...paymentLinkStatsRoutes,
  ...lookupRoutes,
  ...webhookRoutes,
  ...reportRoutes,
  ...paymentTimelineRoutes,
  ...reversalRoutes,
  ...resolutionRoutes,
];

/** createApp's own options on top of the dependencies every route sees. */
export interface AppOptions extends AppDeps {
  /** Routes beyond API_ROUTES (tests mount throwing or creation-class routes here). */
  extraRoutes?: RouteDef[] | undefined;
  /** Dashboard page modules beyond the built-in ones (tests). */
  dashboardPages?: PageModule[] | undefined;
}

type Derived = 'payments' | 'payouts' | 'callbackSecret' | 'webhooks' | 'deliveryStarter';

/** What createApp needs; the payment service, callback secret and webhook parts are derived when not given. */
export type AppInput = Omit<AppOptions, Derived> & Partial<Pick<AppDeps, Derived>>;

/** The callback-token secret: MALIPO_CALLBACK_SECRET, or one derived from the encryption key. */
export function callbackSecretOf(config: Config, box: SecretBox): string {
  return config.MALIPO_CALLBACK_SECRET?.reveal() ?? box.derive('callback-tokens');
}

function rateLimitStore(deps: AppDeps): RateLimitStore {
  if (deps.rateLimit?.store) return deps.rateLimit.store;
  const choice = deps.config.MALIPO_RATE_LIMIT_STORE;
  const shared = choice === 'postgres' || (choice === 'auto' && deps.config.DATABASE_URL !== undefined);
  return shared ? new PostgresRateLimitStore(deps.db) : new MemoryRateLimitStore();
}

const BODY_LIMIT = '64kb';

/**
 * Daraja hook URLs carry their proof in the path (`/hooks/daraja/<kind>/<id>/<token>/…`): a logged
 * token would let anyone who reads the logs forge callbacks, so it never reaches a log line.
 */
export function withoutHookToken(url: string): string {
  return url.replace(/^(\/hooks\/daraja\/[^/?]+\/[^/?]+\/)[^/?]+/, '$1[token]');
}

/** A body that is present must be JSON. */
const requireJson: RequestHandler = (req, _res, next) => {
  const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
  if (hasBody && !req.is('application/json')) {
    next(new MalipoError('UNSUPPORTED_MEDIA_TYPE', 'Send the request body as application/json'));
    return;
  }
  next();
};

export function createApp(input: AppInput): Express {
  const deps: AppOptions = {
    ...input,
    callbackSecret: input.callbackSecret ?? callbackSecretOf(input.config, input.secretBox),
    payments:
      input.payments ??
      new PaymentService({
        db: input.db,
        box: input.secretBox,
        temporal: input.temporal,
        taskQueue: input.config.TEMPORAL_TASK_QUEUE,
        logger: input.logger,
        initiationWaitMs: input.config.MALIPO_INITIATION_WAIT_MS,
        stkConfig: stkConfigFrom(input.config),
      }),
    payouts:
      input.payouts ??
      new PayoutService({
        db: input.db,
        box: input.secretBox,
        temporal: input.temporal,
        taskQueue: input.config.TEMPORAL_TASK_QUEUE,
        logger: input.logger,
        payoutConfig: payoutConfigFrom(input.config),
      }),
    webhooks:
      input.webhooks ??
      new WebhookRepository(input.db, input.secretBox, {
        mode: input.config.isProduction ? 'production' : 'development',
        ...(input.webhookResolver ? { resolve: input.webhookResolver } : {}),
      }),
    deliveryStarter:
      input.deliveryStarter ??
      temporalDeliveryStarter(input.temporal, input.config.TEMPORAL_TASK_QUEUE, {
        scheduleScale: input.config.MALIPO_WEBHOOK_SCHEDULE_SCALE,
      }),
  };
  const app = express();
  app.disable('x-powered-by');
  // off unless configured: a believed X-Forwarded-For picks the client IP the per-IP limits count
  app.set('trust proxy', deps.config.MALIPO_TRUST_PROXY);
  app.use(requestId);
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (_req, res) => String(res.getHeader('x-request-id') ?? ''),
      // called again when the response finishes, so the key id and route are known by then (never the key)
      customProps: (_req, res) => {
        const locals = (res as express.Response).locals ?? {};
        return { requestId: locals.requestId, keyId: locals.auth?.keyId, route: locals.route };
      },
      serializers: {
        req: (req: { method: string; url: string }) => ({
          method: req.method,
          url: withoutHookToken(req.url),
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
    }),
  );
  app.use(helmet());

  if (deps.sandbox) app.use('/sandbox', deps.sandbox);
  // the public pay pages (HTML forms, per-IP limits) parse their own bodies, so they come before requireJson
  app.use('/pay', createPayRouter(deps, { store: rateLimitStore(deps), now: deps.rateLimit?.now }));
  // the merchant dashboard: HTML forms with sessions and CSRF, over the same route definitions as /v1
  app.use('/dashboard', createDashboardRouter(deps, { extraPages: deps.dashboardPages }));

  // before body parsing: a flood of hook requests without a valid token is refused unread
  app.use(
    '/hooks/daraja',
    hookRateLimit({
      store: rateLimitStore(deps),
      callbackSecret: deps.callbackSecret,
      invalidPerMinute: deps.config.MALIPO_HOOK_RATE_LIMIT_PER_MINUTE,
      now: deps.rateLimit?.now,
    }),
  );

  app.use(requireJson);
  app.use(express.json({ limit: BODY_LIMIT, strict: false, type: 'application/json' }));
  app.use(limitJsonDepth);
  app.use(rejectNul);

  const limits = {
    creation: deps.config.MALIPO_RATE_LIMIT_CREATE_PER_MINUTE,
    standard: deps.config.MALIPO_RATE_LIMIT_PER_MINUTE,
  };
  const store = rateLimitStore(deps);
  const now = deps.rateLimit?.now;
  const routes: RouteDef[] = [...API_ROUTES, ...(deps.extraRoutes ?? [])];
  routes.push(openApiRoute(() => routes, { serverUrl: deps.config.publicUrl }));
  mountRoutes(app, routes, deps, {
    authenticate: authenticate({ db: deps.db, lastUsed: new LastUsedTracker(deps.db) }),
    rateLimit: (cls) => rateLimit(cls, { store, limits, ...(now ? { now } : {}) }),
  });
  registerDocsUi(app);

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
