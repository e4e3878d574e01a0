/**
 * /v1/channels: a merchant's Daraja shortcodes and credentials. Secrets go in, never come out (masked).
 * A key sees and manages only the channels its environment may use: `test` → simulator and
 * safaricom-sandbox, `live` → production. Where a base URL may point is ChannelUrlPolicy
 * (src/platform/channels.ts), from the configuration.
 */
import { z } from 'zod';
import {
  assertChannelEnvironment,
  type ChannelUrlPolicy,
  channelUrlPolicy,
  createChannel,
  deleteChannel,
  getChannel,
  listChannels,
  type PublicChannel,
  updateChannel,
} from '../../platform/channels';
import { CHANNEL_ENVIRONMENTS } from '../../platform/scopes';
import type { AppDeps } from '../deps';
import { defineRoute } from '../route';
import { idParams, iso, listOf, Timestamp } from '../schemas';

const Digits = z.string().regex(/^\d{5,8}$/, 'must be 5 to 8 digits');
const SecretText = z.string().min(1).max(512);
const HttpUrl = z.url({ protocol: /^https?$/ }).max(2048);

export const ChannelSchema = z
  .object({
    id: z.string().meta({ example: 'ch_4kX9sQ2mT7vB1nR8pL3wYz' }),
    object: z.literal('channel'),
    name: z.string(),
    type: z.enum(['paybill', 'till']),
    shortcode: z.string().meta({ description: 'Paybill number, or a till’s store (head office) number.' }),
    tillNumber: z.string().nullable(),
    environment: z.enum(CHANNEL_ENVIRONMENTS),
    baseUrl: z.string().meta({ description: 'Where Daraja calls for this channel go.' }),
    isDefault: z.boolean(),
    status: z.enum(['active', 'disabled']),
    initiatorName: z.string().nullable(),
    credentials: z
      .object({
        passkey: z.string(),
        consumerKey: z.string(),
        consumerSecret: z.string(),
        initiatorPassword: z.string().nullable(),
      })
      .meta({ description: 'Masked: only the last four characters are shown.' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: 'Channel' });

export const CreateChannelSchema = z
  .strictObject({
    name: z.string().min(1).max(100).optional(),
    type: z.enum(['paybill', 'till']),
    shortcode: Digits.meta({
      description: 'The BusinessShortCode: the paybill number, or for a till its store number.',
    }),
    tillNumber: Digits.optional().meta({ description: 'Required when type is till.' }),
    environment: z.enum(CHANNEL_ENVIRONMENTS),
    baseUrl: HttpUrl.optional().meta({
      description:
        'Override of the Daraja base URL; required for simulator channels (refused in production mode). Production and sandbox channels accept only Safaricom’s host of their environment or a host in MALIPO_DARAJA_ALLOWED_HOSTS; every base URL passes the outbound SSRF guard.',
    }),
    isDefault: z
      .boolean()
      .optional()
      .meta({ description: 'The first channel of an environment is the default.' }),
    passkey: SecretText,
    consumerKey: SecretText,
    consumerSecret: SecretText,
    initiatorName: z.string().min(1).max(100).optional(),
    initiatorPassword: SecretText.optional(),
  })
  .meta({ id: 'CreateChannel' });

export const UpdateChannelSchema = z
  .strictObject({
    name: z.string().min(1).max(100).optional(),
    type: z.enum(['paybill', 'till']).optional(),
    shortcode: Digits.optional(),
    tillNumber: Digits.nullable().optional(),
    baseUrl: HttpUrl.nullable().optional().meta({
      description:
        'A new base URL (null: Safaricom’s default) needs every secret the channel holds in the same request: passkey, consumerKey, consumerSecret and, if set, initiatorPassword.',
    }),
    isDefault: z.boolean().optional(),
    status: z.enum(['active', 'disabled']).optional(),
    passkey: SecretText.optional(),
    consumerKey: SecretText.optional(),
    consumerSecret: SecretText.optional(),
    initiatorName: z.string().min(1).max(100).nullable().optional(),
    initiatorPassword: SecretText.nullable().optional(),
  })
  .meta({
    id: 'UpdateChannel',
    description:
      'Only the fields sent change. The environment cannot change. Changing baseUrl needs the channel’s secrets in the same request.',
  });

const ChannelParams = idParams('ch', 'ch_4kX9sQ2mT7vB1nR8pL3wYz');

/** Where this API's channels may point: the configuration, with the outbound guard's DNS. */
export function channelPolicyOf(deps: Pick<AppDeps, 'config' | 'webhookResolver'>): ChannelUrlPolicy {
  return channelUrlPolicy(deps.config, deps.webhookResolver);
}

export function channelBody(c: PublicChannel): z.input<typeof ChannelSchema> {
  const { merchantId: _m, createdAt, updatedAt, ...rest } = c;
  return { ...rest, object: 'channel', createdAt: iso(createdAt), updatedAt: iso(updatedAt) };
}

export const listChannelsRoute = defineRoute({
  method: 'get',
  path: '/v1/channels',
  scope: 'channels:read',
  summary: 'List channels',
  description: 'The channels this key’s environment may use.',
  tags: ['channels'],
  responses: { 200: { description: 'The channels', schema: listOf(ChannelSchema) } },
  handler: async ({ deps, auth, reply }) => {
    const channels = await listChannels(deps.db, deps.secretBox, auth.merchantId, { mode: auth.environment });
    return reply(200, { object: 'list' as const, data: channels.map(channelBody) });
  },
});

export const createChannelRoute = defineRoute({
  method: 'post',
  path: '/v1/channels',
  scope: 'channels:write',
  summary: 'Create a channel',
  description: 'Secrets are encrypted at rest (AES-256-GCM) and never returned in clear.',
  tags: ['channels'],
  request: { body: CreateChannelSchema },
  responses: { 201: { description: 'Created', schema: ChannelSchema } },
  errors: ['FORBIDDEN'],
  handler: async ({ deps, auth, body, actor, reply }) => {
    assertChannelEnvironment(auth.environment, body.environment);
    const channel = await createChannel(
      deps.db,
      deps.secretBox,
      auth.merchantId,
      body,
      actor,
      channelPolicyOf(deps),
    );
    return reply(201, channelBody(channel));
  },
});

export const getChannelRoute = defineRoute({
  method: 'get',
  path: '/v1/channels/:id',
  scope: 'channels:read',
  summary: 'Retrieve a channel',
  tags: ['channels'],
  request: { params: ChannelParams },
  responses: { 200: { description: 'The channel', schema: ChannelSchema } },
  errors: ['RESOURCE_NOT_FOUND', 'FORBIDDEN'],
  handler: async ({ deps, auth, params, reply }) => {
    const channel = await getChannel(deps.db, deps.secretBox, auth.merchantId, params.id, auth.environment);
    return reply(200, channelBody(channel));
  },
});

export const updateChannelRoute = defineRoute({
  method: 'patch',
  path: '/v1/channels/:id',
  scope: 'channels:write',
  summary: 'Update a channel',
  tags: ['channels'],
  request: { params: ChannelParams, body: UpdateChannelSchema },
  responses: { 200: { description: 'The updated channel', schema: ChannelSchema } },
  errors: ['RESOURCE_NOT_FOUND', 'FORBIDDEN'],
  handler: async ({ deps, auth, params, body, actor, reply }) => {
    const channel = await updateChannel(
      deps.db,
      deps.secretBox,
      auth.merchantId,
      params.id,
      body,
      { ...actor, keyEnvironment: auth.environment },
      channelPolicyOf(deps),
    );
    return reply(200, channelBody(channel));
  },
});

export const deleteChannelRoute = defineRoute({
  method: 'delete',
  path: '/v1/channels/:id',
  scope: 'channels:write',
  summary: 'Delete a channel',
  description: 'A channel that payments reference is disabled instead of deleted.',
  tags: ['channels'],
  request: { params: ChannelParams },
  responses: {
    200: {
      description: 'Deleted, or disabled when payments reference it',
      schema: z.object({ id: z.string(), deleted: z.boolean(), status: z.enum(['deleted', 'disabled']) }),
    },
  },
  errors: ['RESOURCE_NOT_FOUND', 'FORBIDDEN'],
  handler: async ({ deps, auth, params, actor, reply }) => {
    const result = await deleteChannel(deps.db, auth.merchantId, params.id, {
      ...actor,
      keyEnvironment: auth.environment,
    });
    return reply(200, result);
  },
});

export const channelRoutes = [
  listChannelsRoute,
  createChannelRoute,
  getChannelRoute,
  updateChannelRoute,
  deleteChannelRoute,
];
