/**
 * POST /v1/channels/:id/test: are a channel's stored consumer key and secret good? Fetches one OAuth token
 * from the channel's Daraja with them and says so. A fresh token cache each time, so the answer is
 * Daraja's now, never a token cached before the credentials changed. On failure the message carries only
 * Daraja's own errorCode and errorMessage (or the HTTP status): never a raw upstream body or the text of
 * a connect error, which may name internal hosts.
 */
import { z } from 'zod';
import { DarajaError, TokenCache } from '../../daraja';
import { channelDarajaClient, getChannel, loadChannelCredentials } from '../../platform/channels';
import { defineRoute } from '../route';
import { channelPolicyOf } from './channels';
import { idParams } from '../schemas';

/** A test is one token request: a Daraja that takes longer than this is as good as broken for payments. */
const TEST_TIMEOUT_MS = 10_000;
/** Daraja's own messages are short; anything longer is not one of them. */
const MAX_DARAJA_TEXT = 200;

export const ChannelTestSchema = z
  .object({
    object: z.literal('channel_test'),
    channelId: z.string(),
    ok: z.boolean().meta({ description: 'Daraja issued a token for the stored consumer key and secret.' }),
    message: z.string(),
    errorCode: z.string().nullable().meta({ description: 'Daraja’s errorCode when it refused, else null.' }),
    errorMessage: z.string().nullable().meta({ description: 'Daraja’s errorMessage when it refused.' }),
  })
  .meta({ id: 'ChannelTest' });

type ChannelTest = z.input<typeof ChannelTestSchema>;

const clip = (s: string | undefined): string | null => {
  if (s === undefined) return null;
  const t = s.replace(/\p{Cc}+/gu, ' ').trim();
  return t ? t.slice(0, MAX_DARAJA_TEXT) : null;
};

/** What a merchant may read of a failed token request. */
export function testFailure(channelId: string, err: DarajaError): ChannelTest {
  const errorCode = clip(err.errorCode);
  const errorMessage = clip(err.errorMessage);
  const base = { object: 'channel_test' as const, channelId, ok: false, errorCode, errorMessage };
  if (err.kind === 'not_sent') {
    return {
      ...base,
      message: 'Daraja could not be reached at the channel’s base URL, or did not answer in time',
    };
  }
  if (err.kind === 'ambiguous') return { ...base, message: 'Daraja gave no usable answer in time' };
  const said = [errorCode, errorMessage].filter(Boolean).join(' ');
  return {
    ...base,
    message: said
      ? `Daraja refused the consumer key and secret: ${said}`
      : `Daraja refused the token request (HTTP ${err.httpStatus ?? '?'})`,
  };
}

export const testChannelRoute = defineRoute({
  method: 'post',
  path: '/v1/channels/:id/test',
  scope: 'channels:write',
  summary: 'Test a channel’s credentials',
  description:
    'Requests one Daraja OAuth token with the channel’s stored consumer key and secret. Answers 200 either way: `ok` says whether Daraja issued the token; on a refusal `errorCode` and `errorMessage` are Daraja’s own. The passkey and initiator credentials are not checked (only a real request can check them).',
  tags: ['channels'],
  request: { params: idParams('ch', 'ch_4kX9sQ2mT7vB1nR8pL3wYz') },
  responses: { 200: { description: 'The outcome', schema: ChannelTestSchema } },
  errors: ['RESOURCE_NOT_FOUND', 'FORBIDDEN'],
  handler: async ({ deps, auth, params, reply }) => {
    // ownership and the environment rule first (404 / 403), then the credentials in clear
    await getChannel(deps.db, deps.secretBox, auth.merchantId, params.id, auth.environment);
    const creds = await loadChannelCredentials(deps.db, deps.secretBox, params.id);
    // the same base-URL policy and outbound guard as every Daraja request: a refused URL is a 400, never probed
    const client = channelDarajaClient(creds, channelPolicyOf(deps), {
      tokenCache: new TokenCache(),
      timeoutMs: Math.min(deps.config.MALIPO_DARAJA_TIMEOUT_MS, TEST_TIMEOUT_MS),
    });
    try {
      await client.getToken();
    } catch (err) {
      if (err instanceof DarajaError) return reply(200, testFailure(params.id, err));
      throw err;
    }
    return reply(200, {
      object: 'channel_test' as const,
      channelId: params.id,
      ok: true,
      message: 'Daraja accepted the consumer key and secret',
      errorCode: null,
      errorMessage: null,
    });
  },
});

export const channelTestRoutes = [testChannelRoute];
