/**
 * /v1/keys: API key management with the `keys:manage` scope. A key manages the keys of its own merchant
 * and environment, and may create, rotate or revoke only keys whose scopes it holds itself (any, with
 * `*`); the rule lives in src/platform/keys.ts. The key and its webhook signing secret are in the
 * creation (and rotation) response only.
 */
import { z } from 'zod';
import { MalipoError } from '../../domain/errors';
import {
  type ApiKeyView,
  createApiKey,
  getApiKey,
  type IssuedKey,
  keyManagerOf,
  listApiKeys,
  MAX_ROTATION_OVERLAP_SECONDS,
  revokeApiKey,
  rotateApiKey,
} from '../../platform/keys';
import type { AuthContext } from '../../platform/scopes';
import { defineRoute } from '../route';
import { idParams, iso, listOf, ScopeSchema, Timestamp } from '../schemas';

export const ApiKeySchema = z
  .object({
    id: z.string().meta({ example: 'key_7Hq2Lm9Xc4Vb8Nz1Kd5Rt3' }),
    object: z.literal('api_key'),
    environment: z.enum(['test', 'live']),
    label: z.string(),
    scopes: z.array(z.string()),
    prefix: z.string().meta({ example: 'mlp_test_Ab3x' }),
    last4: z.string(),
    state: z.enum(['active', 'expired', 'revoked']),
    createdAt: Timestamp,
    lastUsedAt: Timestamp.nullable().meta({ description: 'Updated at most once a minute.' }),
    expiresAt: Timestamp.nullable(),
    revokedAt: Timestamp.nullable(),
    rotatedAt: Timestamp.nullable(),
    replacedBy: z.string().nullable(),
  })
  .meta({ id: 'ApiKey' });

export const IssuedApiKeySchema = ApiKeySchema.extend({
  key: z.string().meta({ description: 'The API key. Shown only now; store it safely.' }),
  webhookSecret: z
    .string()
    .meta({ description: 'Signs webhooks sent for this key (whsec_…). Shown only now.', example: 'whsec_…' }),
}).meta({ id: 'IssuedApiKey' });

const CreateKeySchema = z
  .strictObject({
    label: z.string().min(1).max(100).optional(),
    scopes: z.array(ScopeSchema).min(1).max(20),
    environment: z
      .enum(['test', 'live'])
      .optional()
      .meta({ description: 'Defaults to, and must equal, the calling key’s environment.' }),
    expiresAt: z.iso.datetime().optional(),
  })
  .meta({ id: 'CreateApiKey' });

const RotateKeySchema = z
  .strictObject({
    overlapSeconds: z
      .number()
      .int()
      .min(0)
      .max(MAX_ROTATION_OVERLAP_SECONDS)
      .optional()
      .meta({ description: 'How long the old key stays valid. Default 0: revoked at once.' }),
  })
  .meta({ id: 'RotateApiKey' });

const KeyParams = idParams('key', 'key_7Hq2Lm9Xc4Vb8Nz1Kd5Rt3');

function keyBody(k: ApiKeyView): z.input<typeof ApiKeySchema> {
  return {
    id: k.id,
    object: 'api_key',
    environment: k.environment,
    label: k.label,
    scopes: k.scopes,
    prefix: k.prefix,
    last4: k.last4,
    state: k.state,
    createdAt: iso(k.createdAt),
    lastUsedAt: iso(k.lastUsedAt),
    expiresAt: iso(k.expiresAt),
    revokedAt: iso(k.revokedAt),
    rotatedAt: iso(k.rotatedAt),
    replacedBy: k.replacedBy,
  };
}

function issuedBody(k: IssuedKey): z.input<typeof IssuedApiKeySchema> {
  return { ...keyBody(k), key: k.key, webhookSecret: k.webhookSecret };
}

/** A key of the caller's merchant and environment; others are "not found". */
async function ownKey(
  deps: { db: import('../../db').Db },
  auth: AuthContext,
  id: string,
): Promise<ApiKeyView> {
  const key = await getApiKey(deps.db, auth.merchantId, id);
  if (key.environment !== auth.environment) throw new MalipoError('RESOURCE_NOT_FOUND', 'API key not found');
  return key;
}

export const listKeysRoute = defineRoute({
  method: 'get',
  path: '/v1/keys',
  scope: 'keys:manage',
  summary: 'List API keys',
  description: 'The keys of this merchant in the calling key’s environment, newest first.',
  tags: ['keys'],
  responses: { 200: { description: 'The keys', schema: listOf(ApiKeySchema) } },
  handler: async ({ deps, auth, reply }) => {
    const keys = await listApiKeys(deps.db, auth.merchantId, { environment: auth.environment });
    return reply(200, { object: 'list' as const, data: keys.map(keyBody) });
  },
});

export const createKeyRoute = defineRoute({
  method: 'post',
  path: '/v1/keys',
  scope: 'keys:manage',
  summary: 'Create an API key',
  tags: ['keys'],
  request: { body: CreateKeySchema },
  responses: { 201: { description: 'The new key, shown once', schema: IssuedApiKeySchema } },
  errors: ['FORBIDDEN'],
  handler: async ({ deps, auth, body, actor, reply }) => {
    const expiresAt = body.expiresAt ? new Date(body.expiresAt) : null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) {
      throw new MalipoError('VALIDATION_ERROR', 'The request body is invalid', {
        details: [{ path: 'expiresAt', message: 'must be in the future', code: 'custom' }],
      });
    }
    const issued = await createApiKey(
      deps.db,
      deps.secretBox,
      {
        merchantId: auth.merchantId,
        environment: body.environment ?? auth.environment,
        scopes: body.scopes,
        label: body.label,
        expiresAt,
      },
      actor,
      keyManagerOf(auth),
    );
    return reply(201, issuedBody(issued));
  },
});

export const getKeyRoute = defineRoute({
  method: 'get',
  path: '/v1/keys/:id',
  scope: 'keys:manage',
  summary: 'Retrieve an API key',
  tags: ['keys'],
  request: { params: KeyParams },
  responses: { 200: { description: 'The key (never the secret)', schema: ApiKeySchema } },
  errors: ['RESOURCE_NOT_FOUND'],
  handler: async ({ deps, auth, params, reply }) => reply(200, keyBody(await ownKey(deps, auth, params.id))),
});

export const revokeKeyRoute = defineRoute({
  method: 'post',
  path: '/v1/keys/:id/revoke',
  scope: 'keys:manage',
  summary: 'Revoke an API key',
  description:
    'Immediate: the next request with the key gets 401 INVALID_API_KEY. A key may revoke only keys whose scopes it holds itself (403 FORBIDDEN otherwise).',
  tags: ['keys'],
  request: { params: KeyParams },
  responses: { 200: { description: 'The revoked key', schema: ApiKeySchema } },
  errors: ['RESOURCE_NOT_FOUND', 'FORBIDDEN'],
  handler: async ({ deps, auth, params, actor, reply }) => {
    const revoked = await revokeApiKey(deps.db, auth.merchantId, params.id, actor, keyManagerOf(auth));
    return reply(200, keyBody(revoked));
  },
});

export const rotateKeyRoute = defineRoute({
  method: 'post',
  path: '/v1/keys/:id/rotate',
  scope: 'keys:manage',
  summary: 'Rotate an API key',
  description:
    'Issues a new key (and webhook secret) with the same scopes. The old key stays valid for `overlapSeconds` (default 0). A key may rotate only keys whose scopes it holds itself (403 FORBIDDEN otherwise).',
  tags: ['keys'],
  request: { params: KeyParams, body: RotateKeySchema },
  responses: {
    201: {
      description: 'The new key, shown once, and the old one',
      schema: z.object({ key: IssuedApiKeySchema, previous: ApiKeySchema }),
    },
  },
  errors: ['RESOURCE_NOT_FOUND', 'FORBIDDEN', 'CONFLICT'],
  handler: async ({ deps, auth, params, body, actor, reply }) => {
    const r = await rotateApiKey(
      deps.db,
      deps.secretBox,
      auth.merchantId,
      params.id,
      { overlapSeconds: body.overlapSeconds },
      actor,
      keyManagerOf(auth),
    );
    return reply(201, { key: issuedBody(r.key), previous: keyBody(r.previous) });
  },
});

export const keyRoutes = [listKeysRoute, createKeyRoute, getKeyRoute, revokeKeyRoute, rotateKeyRoute];
