/**
 * The C2B repository on PGlite and (when configured) PostgreSQL: a confirmation becomes one payment and
 * one `payment.c2b` event, at most once per TransID and channel even when repeats race (the partial
 * unique index payments_c2b_channel_receipt); the validation rules read the merchant's links; settings writes are audited.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureDevCredentials } from '../../src/admin/dev-bootstrap';
import { type C2bChannel, C2bRepository } from '../../src/c2b';
import { DEV_C2B_SHORTCODE, registerDevC2b } from '../../src/c2b/dev';
import type { DatabaseHandle } from '../../src/db';
import { type C2bNotification, parseC2bNotification } from '../../src/daraja/transformers';
import { LinkRepository } from '../../src/links/links';
import { toPaymentView } from '../../src/payments/repository';
import { createChannel, DEVELOPMENT_CHANNEL_POLICY } from '../../src/platform/channels';
import { createMerchant } from '../../src/platform/merchants';
import { createLogger } from '../../src/logger';
import { SecretBox } from '../../src/platform/secret-box';
import { CHANNEL_DEFAULTS } from '../helpers/http';
import { testDatabases } from '../helpers/db';
import { startSim } from '../helpers/sandbox';

const ACTOR = { actor: 'test' };

function notification(over: Record<string, unknown> = {}): C2bNotification {
  const r = parseC2bNotification({
    TransactionType: 'Pay Bill',
    TransID: `TD${crypto.randomBytes(4).toString('hex').toUpperCase()}`,
    TransTime: '20240101153012',
    TransAmount: '250.00',
    BusinessShortCode: '600984',
    BillRefNumber: 'INV0042',
    InvoiceNumber: '',
    OrgAccountBalance: '10250.00',
    ThirdPartyTransID: '',
    MSISDN: '2547 ***** 149',
    FirstName: 'JANE',
    MiddleName: '',
    LastName: '',
    ...over,
  });
  assert.ok(r.ok);
  return r.value;
}

for (const target of testDatabases()) {
  describe(`c2b repository on ${target.name}`, () => {
    let handle: DatabaseHandle;
    let repo: C2bRepository;
    let links: LinkRepository;
    let channel: C2bChannel;
    const box = new SecretBox(crypto.randomBytes(32));

    before(async () => {
      handle = await target.open();
      links = new LinkRepository(handle.db, box, 'http://127.0.0.1:3000');
      repo = new C2bRepository(handle.db, links);
      const m = await createMerchant(handle.db, { name: 'Shop' }, ACTOR);
      const ch = await createChannel(
        handle.db,
        box,
        m.id,
        { ...CHANNEL_DEFAULTS, shortcode: '600984' },
        ACTOR,
        DEVELOPMENT_CHANNEL_POLICY,
      );
      channel = (await repo.channel(ch.id))!;
    });
    after(async () => {
      await handle?.close();
    });

    const rowsFor = (transId: string) =>
      handle.db.selectFrom('payments').selectAll().where('mpesa_receipt', '=', transId).execute();

    it('records a confirmation as a success payment with its event, in the channel’s environment', async () => {
      const n = notification();
      const r = await repo.recordConfirmation(channel, n);
      assert.equal(r.outcome, 'recorded');
      if (r.outcome !== 'recorded') return;
      const [row] = await rowsFor(n.transactionId);
      assert.ok(row);
      assert.equal(row.kind, 'c2b');
      assert.equal(row.status, 'success');
      assert.equal(row.version, 1);
      assert.equal(row.environment, 'test');
      assert.equal(row.merchant_id, channel.merchantId);
      assert.deepEqual(r.payment, toPaymentView(row));
      const event = await handle.db
        .selectFrom('events')
        .selectAll()
        .where('id', '=', r.eventId)
        .executeTakeFirstOrThrow();
      assert.equal(event.type, 'payment.c2b');
      assert.equal(event.payment_id, row.id);
      assert.equal(event.payment_version, 1);
      assert.equal(event.environment, 'test');
      assert.deepEqual(JSON.parse(event.body).data, r.payment);
    });

    it('records a TransID once, however many confirmations race', async () => {
      const n = notification();
      const results = await Promise.all(Array.from({ length: 8 }, () => repo.recordConfirmation(channel, n)));
      assert.equal(results.filter((r) => r.outcome === 'recorded').length, 1);
      assert.equal(results.filter((r) => r.outcome === 'duplicate').length, 7);
      const rows = await rowsFor(n.transactionId);
      assert.equal(rows.length, 1);
      const events = await handle.db
        .selectFrom('events')
        .select('id')
        .where('payment_id', '=', rows[0]!.id)
        .execute();
      assert.equal(events.length, 1);
      const ids = new Set(results.map((r) => (r.outcome === 'unrecordable' ? null : r.eventId)));
      assert.deepEqual([...ids], [events[0]!.id], 'every answer names the one event');
    });

    it('keeps the unique receipt to C2B: an STK payment with the same receipt does not block it', async () => {
      const n = notification();
      await handle.db
        .insertInto('payments')
        .values({
          id: `pay_${crypto.randomBytes(11).toString('hex')}`,
          merchant_id: channel.merchantId,
          environment: 'test',
          channel_id: channel.id,
          status: 'success',
          amount: 10,
          phone: '254708374149',
          reference: 'X',
          description: 'Payment',
          callback_url: null,
          metadata: null,
          api_key_id: null,
          link_id: null,
          mpesa_receipt: n.transactionId,
        })
        .execute();
      assert.equal((await repo.recordConfirmation(channel, n)).outcome, 'recorded');
      assert.equal((await rowsFor(n.transactionId)).length, 2);
    });

    it('refuses what cannot be a payment row, and writes nothing', async () => {
      for (const over of [
        { TransAmount: '0.99' },
        { TransAmount: '-5' },
        { TransID: '   ' },
        { TransID: 'X'.repeat(65) },
      ]) {
        const n = notification(over);
        const r = await repo.recordConfirmation(channel, n);
        assert.equal(r.outcome, 'unrecordable', JSON.stringify(over));
        assert.equal((await rowsFor(n.transactionId)).length, 0);
      }
    });

    it('decides open_links from the merchant’s links and their live status', async () => {
      const auth = { merchantId: channel.merchantId, environment: 'test' as const };
      const live = await links.create(
        auth,
        { title: 'Fee', reference: 'FEE-9', amount: 300, maxPayments: 1 },
        ACTOR,
      );
      const open = { ...channel, validation: 'open_links' as const };
      const decide = (billRef: string, amount: string) =>
        repo.decide(open, notification({ BillRefNumber: billRef, TransAmount: amount }));
      assert.deepEqual(await decide('fee-9', '300.00'), { accept: true, linkId: live.id });
      assert.deepEqual(await decide('FEE-9', '301.00'), { accept: false, reason: 'invalid_amount' });
      assert.deepEqual(await decide('FEE-8', '300.00'), { accept: false, reason: 'invalid_account' });
      assert.deepEqual(await repo.decide(channel, notification({ BillRefNumber: 'FEE-8' })), {
        accept: true,
        linkId: null,
      });
      // one successful payment exhausts the link
      const paid = await repo.recordConfirmation(
        channel,
        notification({ BillRefNumber: 'FEE-9', TransAmount: '300' }),
      );
      assert.equal(paid.outcome === 'recorded' && paid.payment.linkId, live.id);
      assert.deepEqual(await decide('FEE-9', '300.00'), { accept: false, reason: 'invalid_account' });
      // the live environment's links are not the test channel's
      await links.create(
        { ...auth, environment: 'live' },
        { title: 'Live', reference: 'LIVE-1', amount: 5 },
        ACTOR,
      );
      assert.deepEqual(await decide('LIVE-1', '5.00'), { accept: false, reason: 'invalid_account' });
    });

    it('stores the registration and the rule, each with an audit row', async () => {
      const row = await repo.merchantChannel(channel.merchantId, channel.id);
      const reg = await repo.saveRegistration(
        row,
        { responseType: 'Cancelled', validation: 'open_links', conversationId: 'conv-1' },
        { actor: 'key_x', requestId: 'req_1' },
      );
      assert.equal(reg.responseType, 'Cancelled');
      assert.equal(reg.validation, 'open_links');
      assert.ok(reg.registeredAt);
      const back = await repo.setValidation(
        await repo.merchantChannel(channel.merchantId, channel.id),
        'accept_all',
        { actor: 'key_x' },
      );
      assert.equal(back.validation, 'accept_all');
      assert.equal(back.responseType, 'Cancelled', 'the rule changes alone');
      const audit = await handle.db
        .selectFrom('audit_log')
        .selectAll()
        .where('target_id', '=', channel.id)
        .where('action', 'in', ['channel.c2b_register', 'channel.c2b_update'])
        .orderBy('created_at')
        .execute();
      assert.deepEqual(
        audit.map((a) => a.action),
        ['channel.c2b_register', 'channel.c2b_update'],
      );
      assert.equal(audit[0]!.request_id, 'req_1');
      await assert.rejects(repo.merchantChannel('mer_other', channel.id), /Channel not found/);
    });

    it('development mode: a C2B paybill beside the default channel, registered with the simulator', async () => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'malipo-c2b-dev-'));
      const sim = await startSim();
      try {
        const config = { isProduction: false, dataDir, publicUrl: 'http://127.0.0.1:3999' };
        const creds = await ensureDevCredentials({ config, db: handle.db, secretBox: box });
        assert.ok(creds?.c2bChannelId);
        const ch = await handle.db
          .selectFrom('channels')
          .selectAll()
          .where('id', '=', creds.c2bChannelId)
          .executeTakeFirstOrThrow();
        assert.equal(ch.shortcode, DEV_C2B_SHORTCODE);
        assert.equal(ch.is_default, false);
        assert.equal(ch.merchant_id, creds.merchantId);
        assert.equal(ch.base_url, 'http://127.0.0.1:3999/sandbox/daraja');
        const again = await ensureDevCredentials({
          config: { ...config, publicUrl: 'http://127.0.0.1:4001' },
          db: handle.db,
          secretBox: box,
        });
        assert.equal(again?.c2bChannelId, creds.c2bChannelId, 'created once');
        assert.equal(again?.channelId, creds.channelId);

        // what `malipo dev` does once the API listens: register with the simulator (here, standalone)
        await handle.db
          .updateTable('channels')
          .set({ base_url: sim.url })
          .where('id', '=', creds.c2bChannelId)
          .execute();
        const deps = {
          db: handle.db,
          box,
          publicUrl: 'http://127.0.0.1:4001',
          callbackSecret: 'dev-secret',
          logger: createLogger('silent'),
        };
        assert.equal(await registerDevC2b(deps, creds.merchantId, creds.c2bChannelId), true);
        const reg = sim.sandbox.state.c2bRegistrationFor(DEV_C2B_SHORTCODE);
        assert.match(reg?.confirmationUrl ?? '', /^http:\/\/127\.0\.0\.1:4001\/hooks\/daraja\/c2b\//);
        assert.ok((await repo.channel(creds.c2bChannelId))?.registeredAt);
        // the default 174379 channel cannot register; a failure is reported, never thrown
        await handle.db
          .updateTable('channels')
          .set({ base_url: sim.url })
          .where('id', '=', creds.channelId)
          .execute();
        assert.equal(await registerDevC2b(deps, creds.merchantId, creds.channelId), false);
      } finally {
        await sim.close();
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}
