/**
 * What every route, the pay pages and the dashboard are handed: the app's dependencies as types only.
 * It imports nothing of src/http's routes, route.ts, app.ts, the pay router or the dashboard, so those
 * can all name it without an import circle.
 */
import type { Client } from '@temporalio/client';
import type { Router } from 'express';
import type { Config } from '../config';
import type { Db } from '../db';
import type { Logger } from '../logger';
import type { PaymentService } from '../payments/service';
import type { PayoutService } from '../payouts/service';
import type { SecretBox } from '../platform/secret-box';
import type { DeliveryStarter } from '../webhooks/dispatch';
import type { WebhookRepository } from '../webhooks/repository';
import type { Resolver } from '../webhooks/ssrf';
import type { RateLimitStore } from './middleware/rate-limit';

export interface AppDeps {
  config: Config;
  db: Db;
  temporal: Client;
  logger: Logger;
  /** The Daraja simulator, mounted at /sandbox in development mode. */
  sandbox?: Router | undefined;
  /** Seals and opens channel credentials and webhook secrets. */
  secretBox: SecretBox;
  /** Rate-limit store and clock; by default PostgreSQL when DATABASE_URL is set, else in memory. */
  rateLimit?: { store?: RateLimitStore; now?: () => number } | undefined;
  /** The STK payment use cases. */
  payments: PaymentService;
  /** The B2C payout use cases. */
  payouts: PayoutService;
  /** Mints and checks the tokens in Daraja callback URLs. */
  callbackSecret: string;
  /** DNS for the outbound SSRF guard (webhook URLs, channel base URLs; tests inject one); the system resolver by default. */
  webhookResolver?: Resolver | undefined;
  /** Webhook endpoints, events and deliveries; the SSRF guard for saved URLs. */
  webhooks: WebhookRepository;
  /** Starts delivery workflows (redeliveries); a fake in route tests. */
  deliveryStarter: DeliveryStarter;
}
