/**
 * Development mode only: the demo merchant gets a C2B paybill on the simulator (`600984`; the default
 * channel's 174379 is STK-only and Daraja refuses to register C2B URLs for it), and `malipo dev`
 * registers its URLs with the simulator each time the API starts (the simulator keeps registrations in
 * memory), so a customer payment through the simulator works out of the box.
 */
import type { Db } from '../db';
import type { Logger } from '../logger';
import { LinkRepository } from '../links/links';
import {
  type ChannelInput,
  createChannel,
  DEVELOPMENT_CHANNEL_POLICY,
  updateChannel,
} from '../platform/channels';
import type { SecretBox } from '../platform/secret-box';
import { registerC2bUrls } from './register';
import { C2bRepository } from './repository';

/** The demo C2B paybill (Safaricom's sandbox C2B test shortcode). */
export const DEV_C2B_SHORTCODE = '600984';
const ACTOR = { actor: 'dev-bootstrap' };

/** Creates the demo C2B channel once (or follows a changed base URL); returns its id. */
export async function ensureDevC2bChannel(
  db: Db,
  box: SecretBox,
  merchantId: string,
  input: ChannelInput,
  savedId?: string | undefined,
): Promise<string> {
  const existing = savedId
    ? await db
        .selectFrom('channels')
        .select(['id', 'base_url'])
        .where('id', '=', savedId)
        .where('merchant_id', '=', merchantId)
        .executeTakeFirst()
    : undefined;
  if (!existing)
    return (await createChannel(db, box, merchantId, input, ACTOR, DEVELOPMENT_CHANNEL_POLICY)).id;
  if (existing.base_url !== (input.baseUrl ?? null)) {
    // a new base URL comes with the channel's secrets
    const { baseUrl, passkey, consumerKey, consumerSecret } = input;
    const initiatorPassword = input.initiatorPassword ?? null;
    const patch = { baseUrl, passkey, consumerKey, consumerSecret, initiatorPassword };
    await updateChannel(db, box, merchantId, existing.id, patch, ACTOR, DEVELOPMENT_CHANNEL_POLICY);
  }
  return existing.id;
}

/** Registers the demo C2B channel's URLs with the simulator; a failure is logged, never thrown. */
export async function registerDevC2b(
  deps: { db: Db; box: SecretBox; publicUrl: string; callbackSecret: string; logger: Logger },
  merchantId: string,
  channelId: string,
): Promise<boolean> {
  try {
    await registerC2bUrls(
      {
        db: deps.db,
        box: deps.box,
        repo: new C2bRepository(deps.db, new LinkRepository(deps.db, deps.box, deps.publicUrl)),
        publicUrl: deps.publicUrl,
        callbackSecret: deps.callbackSecret,
        darajaTimeoutMs: 5_000,
        channelPolicy: DEVELOPMENT_CHANNEL_POLICY,
      },
      { merchantId, environment: 'test' },
      channelId,
      { responseType: 'Completed' },
      ACTOR,
    );
    deps.logger.info(
      { channelId, shortcode: DEV_C2B_SHORTCODE },
      'dev: C2B URLs registered with the simulator',
    );
    return true;
  } catch (err) {
    deps.logger.warn({ err, channelId }, 'dev: could not register the demo C2B URLs with the simulator');
    return false;
  }
}
