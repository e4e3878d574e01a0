/** `malipo admin merchant|key|channel|audit …`: flag parsing and printing around src/admin/commands.ts. */
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfigOrExit } from '../config';
import { openDatabase } from '../db';
import { MalipoError } from '../domain/errors';
import { createLogger } from '../logger';
import { channelUrlPolicy } from '../platform/channels';
import { secretBoxFor } from '../platform/encryption-key';
import {
  type AdminContext,
  adminAuditList,
  adminChannelCreate,
  adminChannelList,
  adminKeyCreate,
  adminKeyList,
  adminKeyRevoke,
  adminKeyRotate,
  adminMerchantCreate,
  adminMerchantInvite,
  adminMerchantList,
} from './commands';
import { reconcileStatement } from './reconcile-statement';

/** Opens the configured database (PGlite in the data dir, or DATABASE_URL), runs `fn`, prints its JSON. */
async function run<T>(fn: (ctx: AdminContext) => Promise<T>): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL, {
    write: (l) => process.stderr.write(l),
  });
  const handle = await openDatabase({
    url: config.DATABASE_URL?.reveal(),
    dataDir: path.join(config.dataDir, 'db'),
  });
  try {
    const result = await fn({
      db: handle.db,
      secretBox: secretBoxFor(config, logger),
      channelPolicy: channelUrlPolicy(config),
      publicUrl: config.publicUrl,
    });
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } catch (err) {
    if (err instanceof MalipoError) {
      const details = (err.details ?? []).map((d) => `\n  ${JSON.stringify(d)}`).join('');
      process.stderr.write(`malipo admin: ${err.code}: ${err.message}${details}\n`);
      process.exitCode = 1;
      return;
    }
    throw err;
  } finally {
    await handle.close();
  }
}

export function registerAdminCommands(program: Command): void {
  const admin = program
    .command('admin')
    .description('administer merchants, API keys and channels (uses DATABASE_URL or the data dir)');

  const merchant = admin.command('merchant').description('merchants (tenants)');
  merchant
    .command('create')
    .requiredOption('--name <name>', 'display name')
    .action((o: { name: string }) => run((ctx) => adminMerchantCreate(ctx, o)));
  merchant.command('list').action(() => run((ctx) => adminMerchantList(ctx)));
  merchant
    .command('invite')
    .description('print a one-time dashboard invite link (valid 7 days); the invitee sets a password there')
    .requiredOption('--merchant <id>', 'merchant id (mer_…)')
    .requiredOption('--email <email>', "the invitee's email")
    .requiredOption('--role <role>', 'owner, developer or viewer')
    .action((o: { merchant: string; email: string; role: string }) =>
      run((ctx) => adminMerchantInvite(ctx, o)),
    );

  const key = admin.command('key').description('API keys (the key is printed once)');
  key
    .command('create')
    .requiredOption('--merchant <id>', 'merchant id (mer_…)')
    .requiredOption('--env <env>', 'test or live')
    .requiredOption('--scopes <list>', 'comma-separated scopes, or *')
    .option('--label <label>', 'a name to recognise the key by')
    .option('--expires-at <iso>', 'expiry, ISO 8601')
    .action((o: { merchant: string; env: string; scopes: string; label?: string; expiresAt?: string }) =>
      run((ctx) => adminKeyCreate(ctx, o)),
    );
  key
    .command('list')
    .requiredOption('--merchant <id>', 'merchant id')
    .action((o: { merchant: string }) => run((ctx) => adminKeyList(ctx, o)));
  key
    .command('revoke <keyId>')
    .description('revoke at once')
    .action((keyId: string) => run((ctx) => adminKeyRevoke(ctx, { key: keyId })));
  key
    .command('rotate <keyId>')
    .option('--overlap <seconds>', 'how long the old key stays valid', '0')
    .action((keyId: string, o: { overlap: string }) =>
      run((ctx) => adminKeyRotate(ctx, { key: keyId, overlapSeconds: Number(o.overlap) })),
    );

  const channel = admin.command('channel').description('Daraja channels (secrets are encrypted at rest)');
  channel
    .command('create')
    .requiredOption('--merchant <id>', 'merchant id')
    .requiredOption('--env <env>', 'simulator, safaricom-sandbox or production')
    .requiredOption('--type <type>', 'paybill or till')
    .requiredOption('--shortcode <digits>', 'paybill number, or the store number of a till')
    .option('--till-number <digits>', 'the till number (type till)')
    .option('--name <name>', 'display name')
    .option('--base-url <url>', 'Daraja base URL override (required for simulator)')
    .option('--default', 'make it the default channel of its environment')
    .option('--passkey <value>', 'or MALIPO_CHANNEL_PASSKEY')
    .option('--consumer-key <value>', 'or MALIPO_CHANNEL_CONSUMER_KEY')
    .option('--consumer-secret <value>', 'or MALIPO_CHANNEL_CONSUMER_SECRET')
    .option('--initiator-name <name>', 'B2C initiator name')
    .option('--initiator-password <value>', 'or MALIPO_CHANNEL_INITIATOR_PASSWORD')
    .action((o: Parameters<typeof adminChannelCreate>[1]) => run((ctx) => adminChannelCreate(ctx, o)));
  channel
    .command('list')
    .requiredOption('--merchant <id>', 'merchant id')
    .action((o: { merchant: string }) => run((ctx) => adminChannelList(ctx, o)));

  admin
    .command('audit')
    .description('the audit log of a merchant, newest first')
    .requiredOption('--merchant <id>', 'merchant id')
    .option('--limit <n>', 'how many entries', '100')
    .action((o: { merchant: string; limit: string }) =>
      run((ctx) => adminAuditList(ctx, { merchant: o.merchant, limit: Number(o.limit) })),
    );

  admin
    .command('reconcile')
    .description(
      'compare an M-Pesa org portal statement (CSV) with a merchant’s payments, payouts and reversals; exit 0 = no differences, 1 = differences, 2 = bad input',
    )
    .requiredOption('--statement <file>', 'the statement CSV')
    .requiredOption('--merchant <id>', 'merchant id (mer_…)')
    .option('--env <env>', 'which key environment’s records to compare: live or test', 'live')
    .option('--json', 'print JSON instead of a table')
    .action(async (o: { statement: string; merchant: string; env: string; json?: boolean }) => {
      const config = loadConfigOrExit();
      const handle = await openDatabase({
        url: config.DATABASE_URL?.reveal(),
        dataDir: path.join(config.dataDir, 'db'),
      });
      try {
        process.exitCode = await reconcileStatement(handle.db, o, {
          out: (t) => process.stdout.write(t),
          err: (t) => process.stderr.write(t),
        });
      } finally {
        await handle.close();
      }
    });
}
