/** The express app: createApp(deps) wires middleware and routes; it holds no singletons. */
import type { Client } from '@temporalio/client';
import express, { type Express, type RequestHandler, type Router } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { Config } from '../config';
import type { Db } from '../db';
import { MalipoError } from '../domain/errors';
import type { Logger } from '../logger';
import { errorHandler, notFoundHandler } from './errors';
import { requestId } from './request-id';
import { registerHealth } from './routes/health';

export interface AppDeps {
  config: Config;
  db: Db;
  temporal: Client;
  logger: Logger;
  /** The Daraja simulator, mounted at /sandbox in development mode. */
  sandbox?: Router | undefined;
}

const BODY_LIMIT = '64kb';

/** A body that is present must be JSON. */
const requireJson: RequestHandler = (req, _res, next) => {
  const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
  if (hasBody && !req.is('application/json')) {
    next(new MalipoError('UNSUPPORTED_MEDIA_TYPE', 'Send the request body as application/json'));
    return;
  }
  next();
};

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(requestId);
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (_req, res) => String(res.getHeader('x-request-id') ?? ''),
      customProps: (_req, res) => ({ keyId: (res as express.Response).locals?.apiKeyId }),
      serializers: {
        req: (req: { method: string; url: string }) => ({ method: req.method, url: req.url }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
    }),
  );
  app.use(helmet());

  if (deps.sandbox) app.use('/sandbox', deps.sandbox);

  app.use(requireJson);
  app.use(express.json({ limit: BODY_LIMIT, strict: false, type: 'application/json' }));

  registerHealth(app, deps);

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
