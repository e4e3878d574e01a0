/**
 * C2B per channel: `POST /v1/channels/:id/c2b/register` registers the channel's validation and
 * confirmation URLs with Daraja; `GET`/`PATCH /v1/channels/:id/c2b` show the settings and change the
 * validation rule. `/hooks/daraja/c2b/:channel/:token/validation|confirmation` are the URLs Daraja calls.
 */
import { z } from 'zod';
import {
  type C2bHookDeps,
  C2bRepository,
  C2B_RESPONSE_TYPES,
  C2B_VALIDATION_RULES,
  type C2bChannel,
  handleConfirmation,
  handleValidation,
  registerC2bUrls,
  settingsOf,
} from '../../c2b';
import { LinkRepository } from '../../links/links';
import { assertChannelEnvironment } from '../../platform/channels';
import type { AppDeps } from '../deps';
import { defineRoute } from '../route';
import { channelPolicyOf } from './channels';
import { idParams, iso, Timestamp } from '../schemas';

const ChannelParams = idParams('ch', 'ch_4kX9sQ2mT7vB1nR8pL3wYz');
const ValidationRule = z.enum(C2B_VALIDATION_RULES as ['accept_all', 'open_links']).meta({
  description:
    '`accept_all` accepts every payment; `open_links` accepts only an account number (BillRefNumber) that is the reference of an open payment link, for an amount the link admits (else C2B00012 invalid account / C2B00013 invalid amount). Validation must also be enabled for the shortcode by Safaricom.',
});
const ResponseType = z.enum(C2B_RESPONSE_TYPES as ['Completed', 'Cancelled']);

export const C2bSettingsSchema = z
  .object({
    object: z.literal('c2b_settings'),
    channelId: z.string(),
    shortcode: z.string().meta({ description: 'The number customers pay: the paybill, or the till number.' }),
    registered: z.boolean(),
    registeredAt: Timestamp.nullable(),
    responseType: ResponseType.nullable().meta({
      description: 'What M-Pesa does when the validation URL does not answer in time.',
    }),
    validation: ValidationRule,
  })
  .meta({ id: 'C2bSettings' });

const RegisterSchema = z
  .strictObject({
    responseType: ResponseType.optional().meta({ description: 'Default `Completed`.' }),
    validation: ValidationRule.optional().meta({ description: 'Unchanged when left out.' }),
  })
  .meta({ id: 'RegisterC2bUrls' });

const UpdateSchema = z.strictObject({ validation: ValidationRule }).meta({ id: 'UpdateC2bSettings' });

function settingsBody(c: C2bChannel): z.input<typeof C2bSettingsSchema> {
  const s = settingsOf(c);
  return { object: 'c2b_settings', ...s, registeredAt: iso(s.registeredAt) };
}

function repoOf(deps: AppDeps): C2bRepository {
  return new C2bRepository(deps.db, new LinkRepository(deps.db, deps.secretBox, deps.config.publicUrl));
}

function hookDeps(deps: AppDeps): C2bHookDeps {
  return {
    callbackSecret: deps.callbackSecret,
    repo: repoOf(deps),
    payments: deps.payments.repo,
    webhooks: deps.webhooks,
    deliveryStarter: deps.deliveryStarter,
  };
}

export const getC2bRoute = defineRoute({
  method: 'get',
  path: '/v1/channels/:id/c2b',
  scope: 'channels:read',
  summary: 'Retrieve a channel’s C2B settings',
  tags: ['channels'],
  request: { params: ChannelParams },
  responses: { 200: { description: 'The C2B settings', schema: C2bSettingsSchema } },
  errors: ['RESOURCE_NOT_FOUND', 'FORBIDDEN'],
  handler: async ({ deps, auth, params, reply }) => {
    const repo = repoOf(deps);
    const row = await repo.merchantChannel(auth.merchantId, params.id);
    assertChannelEnvironment(auth.environment, row.environment);
    const channel = await repo.channel(row.id);
    return reply(200, settingsBody(channel!));
  },
});

export const registerC2bRoute = defineRoute({
  method: 'post',
  path: '/v1/channels/:id/c2b/register',
  scope: 'channels:write',
  summary: 'Register the channel’s C2B URLs with Daraja',
  description:
    'Calls Daraja’s C2B Register URL v2 for the channel’s paybill (or till number) with Malipo’s validation and confirmation URLs; from then on customers paying the number unprompted appear as payments of kind `c2b` and as `payment.c2b` events. Production registers once: a second registration answers 409 until the URLs are deleted on the Daraja portal.',
  tags: ['channels'],
  request: { params: ChannelParams, body: RegisterSchema },
  responses: { 200: { description: 'Registered; the C2B settings', schema: C2bSettingsSchema } },
  errors: ['RESOURCE_NOT_FOUND', 'FORBIDDEN', 'CONFLICT', 'UPSTREAM_ERROR'],
  handler: async ({ deps, auth, params, body, actor, reply }) => {
    const channel = await registerC2bUrls(
      {
        db: deps.db,
        box: deps.secretBox,
        repo: repoOf(deps),
        publicUrl: deps.config.publicUrl,
        callbackSecret: deps.callbackSecret,
        darajaTimeoutMs: deps.config.MALIPO_DARAJA_TIMEOUT_MS,
        channelPolicy: channelPolicyOf(deps),
      },
      auth,
      params.id,
      { responseType: body.responseType ?? 'Completed', validation: body.validation },
      actor,
    );
    return reply(200, settingsBody(channel));
  },
});

export const updateC2bRoute = defineRoute({
  method: 'patch',
  path: '/v1/channels/:id/c2b',
  scope: 'channels:write',
  summary: 'Change a channel’s C2B validation rule',
  description: 'Takes effect on the next validation request; Daraja is not called.',
  tags: ['channels'],
  request: { params: ChannelParams, body: UpdateSchema },
  responses: { 200: { description: 'The C2B settings', schema: C2bSettingsSchema } },
  errors: ['RESOURCE_NOT_FOUND', 'FORBIDDEN'],
  handler: async ({ deps, auth, params, body, actor, reply }) => {
    const repo = repoOf(deps);
    const row = await repo.merchantChannel(auth.merchantId, params.id);
    assertChannelEnvironment(auth.environment, row.environment);
    const channel = await repo.setValidation(row, body.validation, actor);
    return reply(200, settingsBody(channel));
  },
});

const HookParams = z.object({ channel: z.string().max(160), token: z.string().max(160) });

export const c2bValidationRoute = defineRoute({
  method: 'post',
  path: '/hooks/daraja/c2b/:channel/:token/validation',
  scope: null,
  hidden: true,
  summary: 'Daraja C2B ValidationURL',
  tags: ['hooks'],
  request: { params: HookParams, body: z.unknown() },
  responses: {
    200: {
      description: 'Accepted (`"0"`) or rejected (`C2B000nn`)',
      schema: z.object({
        ResultCode: z.string(),
        ResultDesc: z.string(),
        ThirdPartyTransID: z.string().optional(),
      }),
    },
  },
  errors: ['RESOURCE_NOT_FOUND', 'SERVICE_UNAVAILABLE'],
  handler: async ({ deps, params, body, req, reply }) => {
    const log = req.log ?? deps.logger;
    const answer = await handleValidation(
      hookDeps(deps),
      { segment: params.channel, token: params.token, path: req.path, body },
      log,
    );
    return reply(200, answer);
  },
});

export const c2bConfirmationRoute = defineRoute({
  method: 'post',
  path: '/hooks/daraja/c2b/:channel/:token/confirmation',
  scope: null,
  hidden: true,
  summary: 'Daraja C2B ConfirmationURL',
  tags: ['hooks'],
  request: { params: HookParams, body: z.unknown() },
  responses: {
    200: {
      description: 'Stored (as a payment, or in the callback inbox)',
      schema: z.object({ ResultCode: z.literal(0), ResultDesc: z.string() }),
    },
  },
  errors: ['RESOURCE_NOT_FOUND', 'SERVICE_UNAVAILABLE'],
  handler: async ({ deps, params, body, req, reply }) => {
    const log = req.log ?? deps.logger;
    const { reply: answer } = await handleConfirmation(
      hookDeps(deps),
      { segment: params.channel, token: params.token, path: req.path, body },
      log,
    );
    return reply(200, answer);
  },
});

export const c2bRoutes = [
  getC2bRoute,
  registerC2bRoute,
  updateC2bRoute,
  c2bValidationRoute,
  c2bConfirmationRoute,
];
