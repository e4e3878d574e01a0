/**
 * Development mode only: the first `malipo dev` creates a demo merchant, a `simulator` channel and an
 * all-scopes test key, and writes them to `$MALIPO_DATA_DIR/dev-credentials.json` (mode 0600) so that later
 * runs reuse the same key (it is stored in clear there, which is why production mode never does this).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import type { Db } from '../db';
import { DEV_C2B_SHORTCODE, ensureDevC2bChannel } from '../c2b/dev';
import {
  type ChannelInput,
  createChannel,
  DEVELOPMENT_CHANNEL_POLICY,
  updateChannel,
} from '../platform/channels';
import { LinkRepository, linkUrl } from '../links/links';
import { addMembership, findUserByEmail, insertUser } from '../accounts/users';
import { createSignInLink } from '../accounts/tokens';
import { createApiKey, findActiveKey, OPERATOR } from '../platform/keys';
import { createMerchant, findMerchant } from '../platform/merchants';
import type { SecretBox } from '../platform/secret-box';
import { DEFAULT_APP } from '../sandbox';

export const DEV_CREDENTIALS_FILE = 'dev-credentials.json';
const ACTOR = { actor: 'dev-bootstrap' };

export interface DevCredentials {
  merchantId: string;
  channelId: string;
  keyId: string;
  apiKey: string;
  webhookSecret: string;
  /** A ready-to-paste request. */
  curl: string;
  /** The demo payment link (fixed KES 10) and its hosted page. */
  paymentLinkId?: string;
  paymentLinkUrl?: string;
  /** The simulator's handset page of the sandbox test number. */
  handsetUrl?: string;
  /** The demo C2B paybill (600984); `malipo dev` registers its URLs with the simulator at start. */
  c2bChannelId?: string;
  /** The demo merchant's owner in the dashboard (no password: it signs in through the one-time link). */
  dashboardUserId?: string;
  dashboardEmail?: string;
  /** A one-time sign-in link, minted at each start and never saved in the file. */
  dashboardSignInUrl?: string;
}

export const DEV_DASHBOARD_EMAIL = 'demo@malipo.dev';

/** The simulator's default app: Daraja's public sandbox shortcode and passkey, and documented test keys. */
const SIM = DEFAULT_APP;

/**
 * The default `simulator` channel: the simulator's default app (Daraja's public sandbox shortcode
 * and passkey, documented test keys) behind `baseUrl`, e.g. `${publicUrl}/sandbox/daraja`.
 */
export function simulatorChannelInput(baseUrl: string): ChannelInput {
  return {
    name: 'Simulator',
    type: 'paybill',
    shortcode: SIM.shortcode,
    environment: 'simulator',
    baseUrl,
    isDefault: true,
    passkey: SIM.passkey,
    consumerKey: SIM.consumerKey,
    consumerSecret: SIM.consumerSecret,
    initiatorName: SIM.initiatorName ?? null,
    initiatorPassword: SIM.initiatorPassword ?? null,
  };
}

/** A patch to `input.baseUrl` carrying every secret of `input` (a new base URL needs them). */
export function channelSecrets(input: ChannelInput) {
  return {
    baseUrl: input.baseUrl,
    passkey: input.passkey,
    consumerKey: input.consumerKey,
    consumerSecret: input.consumerSecret,
    initiatorPassword: input.initiatorPassword ?? null,
  };
}

export function simulatorBaseUrl(publicUrl: string): string {
  return `${publicUrl}/sandbox/daraja`;
}

export function curlFor(publicUrl: string, apiKey: string): string {
  // a real payment: the simulated customer behind 0708374149 pays at once
  return (
    `curl -s ${publicUrl}/v1/payments/stk-push -H "Authorization: Bearer ${apiKey}" ` +
    `-H 'Content-Type: application/json' -d '{"phone":"0708374149","amount":10,"reference":"DEMO-1"}'`
  );
}

function readFile(file: string): DevCredentials | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as DevCredentials;
  } catch {
    return undefined;
  }
}

/** Idempotent: reuses what the file names while its key still works; production mode returns undefined. */
export async function ensureDevCredentials(deps: {
  config: Pick<Config, 'isProduction' | 'dataDir' | 'publicUrl'>;
  db: Db;
  secretBox: SecretBox;
}): Promise<DevCredentials | undefined> {
  const { config, db, secretBox } = deps;
  if (config.isProduction) return undefined;
  const file = path.join(config.dataDir, DEV_CREDENTIALS_FILE);
  const baseUrl = simulatorBaseUrl(config.publicUrl);
  const saved = readFile(file);

  let merchantId = saved?.merchantId;
  if (!merchantId || !(await findMerchant(db, merchantId))) {
    merchantId = (await createMerchant(db, { name: 'Demo merchant' }, ACTOR)).id;
  }

  let channelId = saved?.channelId;
  const channel = channelId
    ? await db
        .selectFrom('channels')
        .select(['id', 'base_url'])
        .where('id', '=', channelId)
        .where('merchant_id', '=', merchantId)
        .executeTakeFirst()
    : undefined;
  if (!channel) {
    channelId = (
      await createChannel(
        db,
        secretBox,
        merchantId,
        simulatorChannelInput(baseUrl),
        ACTOR,
        DEVELOPMENT_CHANNEL_POLICY,
      )
    ).id;
  } else if (channel.base_url !== baseUrl) {
    // the port or public URL changed since the last run: a new base URL comes with the secrets
    await updateChannel(
      db,
      secretBox,
      merchantId,
      channel.id,
      channelSecrets(simulatorChannelInput(baseUrl)),
      ACTOR,
      DEVELOPMENT_CHANNEL_POLICY,
    );
  }

  // a C2B paybill beside the default channel: 174379 is STK-only and cannot register C2B URLs
  const c2bChannelId = await ensureDevC2bChannel(
    db,
    secretBox,
    merchantId,
    {
      ...simulatorChannelInput(baseUrl),
      name: 'Simulator C2B paybill',
      shortcode: DEV_C2B_SHORTCODE,
      isDefault: false,
    },
    saved?.c2bChannelId,
  );

  let key = saved?.apiKey && saved.merchantId === merchantId ? saved : undefined;
  if (key && !(await findActiveKey(db, key.apiKey))) key = undefined;
  const issued = key
    ? { id: key.keyId, key: key.apiKey, webhookSecret: key.webhookSecret }
    : await createApiKey(
        db,
        secretBox,
        { merchantId, environment: 'test', scopes: ['*'], label: 'dev: all scopes' },
        ACTOR,
        OPERATOR,
      );

  // the demo payment link, created once and recreated only when it is gone or disabled
  let paymentLinkId = saved?.paymentLinkId;
  const link = paymentLinkId
    ? await db
        .selectFrom('payment_links')
        .select(['id', 'status'])
        .where('id', '=', paymentLinkId)
        .where('merchant_id', '=', merchantId)
        .executeTakeFirst()
    : undefined;
  if (link?.status !== 'active') {
    const links = new LinkRepository(db, secretBox, config.publicUrl);
    paymentLinkId = (
      await links.create(
        { merchantId, environment: 'test' },
        {
          title: 'Demo payment',
          amount: 10,
          reference: 'DEMO-LINK',
          description: 'A demo payment link: pay KES 10 with the simulator.',
        },
        ACTOR,
      )
    ).id;
  }

  // the dashboard's demo owner: created once, then reused; each start mints a fresh sign-in link
  const demoUser =
    (await findUserByEmail(db, DEV_DASHBOARD_EMAIL)) ?? (await insertUser(db, DEV_DASHBOARD_EMAIL, null));
  await addMembership(db, { userId: demoUser.id, merchantId, role: 'owner' }, ACTOR.actor);
  const signIn = await createSignInLink(db, { userId: demoUser.id, merchantId }, ACTOR.actor);

  const creds: DevCredentials = {
    merchantId,
    channelId: channelId!,
    keyId: issued.id,
    apiKey: issued.key,
    webhookSecret: issued.webhookSecret,
    curl: curlFor(config.publicUrl, issued.key),
    paymentLinkId: paymentLinkId!,
    paymentLinkUrl: linkUrl(config.publicUrl, paymentLinkId!),
    handsetUrl: `${config.publicUrl}/sandbox/phone/254708374149`,
    c2bChannelId,
    dashboardUserId: demoUser.id,
    dashboardEmail: DEV_DASHBOARD_EMAIL,
  };
  fs.mkdirSync(config.dataDir, { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  return { ...creds, dashboardSignInUrl: `${config.publicUrl}/dashboard/sign-in/${signIn.token}` };
}
