/**
 * POST /v1/payments/:id/resolve and POST /v1/payouts/:id/resolve on PGlite and PostgreSQL, with a
 * stand-in Temporal client: a workflow that has ended (the route writes row, event and audit row in one
 * transaction), and a running one (the route sends the `resolve` update, which records the change). The
 * real workflow and stack are covered by test/workflows/reconciliation.test.ts and test/e2e/resolve.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import type { DatabaseHandle } from '../../src/db';
import type { ManualResolution } from '../../src/domain/reconciliation';
import { newId } from '../../src/domain/ids';
import { PaymentRepository } from '../../src/payments/repository';
import { PayoutRepository } from '../../src/payouts/repository';
import type { DeliveryRef } from '../../src/webhooks/repository';
import { testDatabases } from '../helpers/db';
import {
  expectEnvelope,
  expectSecured,
  fakeTemporal,
  startTestApp,
  type TestApp,
  type TestMerchant,
} from '../helpers/http';

type Mode = 'ended' | 'closing' | 'running' | 'refuses';
let mode: Mode = 'ended';
const updates: Array<{ id: string; name: string; args: ManualResolution[] }> = [];
let t: TestApp;

/** Stands in for the workflows: ended (not found), running (records the change), or refusing (left review meanwhile). */
const temporal = {
  ...fakeTemporal,
  workflow: {
    getHandle(id: string) {
      return {
        async executeUpdate(def: { name: string }, opts: { args: [ManualResolution] }) {
          updates.push({ id, name: def.name, args: opts.args });
          if (mode === 'ended')
            throw new WorkflowNotFoundError('workflow execution already completed', id, undefined);
          if (mode === 'refuses' || mode === 'closing') {
            throw new WorkflowUpdateFailedError(
              'Workflow Update failed',
              mode === 'refuses'
                ? ApplicationFailure.nonRetryable('not in review', 'NotInReview')
                : ApplicationFailure.nonRetryable('the workflow is ending', 'WorkflowClosing'),
            );
          }
          // what the workflow's recordPaymentStatus / recordPayoutStatus activity writes
          const r = opts.args[0];
          const common = {
            status: r.status,
            ...(r.status === 'success' ? { mpesaReceipt: r.mpesaReceipt } : {}),
            resolvedBy: 'manual' as const,
            resolution: { actor: r.actor, note: r.note, requestId: r.requestId },
          };
          if (id.startsWith('pay_')) {
            const row = await t.db
              .selectFrom('payments')
              .select('version')
              .where('id', '=', id)
              .executeTakeFirstOrThrow();
            await new PaymentRepository(t.db).recordStatus({
              paymentId: id,
              version: row.version + 1,
              failureReason: r.status === 'failed' ? 'reviewed' : null,
              ...common,
            });
          } else {
            const row = await t.db
              .selectFrom('payouts')
              .select('version')
              .where('id', '=', id)
              .executeTakeFirstOrThrow();
            await new PayoutRepository(t.db).recordStatus({
              payoutId: id,
              version: row.version + 1,
              initiation: 'accepted',
              failureReason: r.status === 'failed' ? 'reviewed' : undefined,
              decidedBy: 'manual',
              reason: 'resolved',
              changedAt: new Date().toISOString(),
              ...common,
            });
          }
          return {};
        },
      };
    },
  },
} as unknown as Client;

interface Kind {
  name: 'payments' | 'payouts';
  scope: 'payments:resolve' | 'payouts:resolve';
  event: 'payment' | 'payout';
  /** A row of this merchant in the given status; returns its id. */
  create(merchantId: string, channelId: string, status: 'needs_review' | 'pending'): Promise<string>;
}

const KINDS: Kind[] = [
  {
    name: 'payments',
    scope: 'payments:resolve',
    event: 'payment',
    async create(merchantId, channelId, status) {
      const repo = new PaymentRepository(t.db);
      const id = newId('payment');
      await repo.createPending({
        id,
        merchantId,
        environment: 'test',
        channelId,
        amount: 100,
        phone: '254708374149',
        reference: 'INV1',
        description: 'Payment',
        callbackUrl: null,
        metadata: null,
        apiKeyId: null,
      });
      if (status === 'needs_review') {
        await repo.recordStatus({ paymentId: id, version: 1, status, reviewReason: 'ambiguous_initiation' });
      }
      return id;
    },
  },
  {
    name: 'payouts',
    scope: 'payouts:resolve',
    event: 'payout',
    async create(merchantId, channelId, status) {
      const repo = new PayoutRepository(t.db);
      const id = newId('payout');
      await repo.createPending({
        id,
        merchantId,
        environment: 'test',
        channelId,
        amount: 100,
        phone: '254708374149',
        commandId: 'BusinessPayment',
        remarks: 'Refund',
        occasion: null,
        reference: 'REF1',
        callbackUrl: null,
        metadata: null,
        apiKeyId: null,
      });
      if (status === 'needs_review') {
        await repo.recordStatus({
          payoutId: id,
          version: 1,
          status,
          initiation: 'accepted',
          reviewReason: 'result_missing',
          decidedBy: 'deadline',
          reason: 'no result',
          changedAt: new Date().toISOString(),
        });
      }
      return id;
    },
  },
];

const SUCCESS = { status: 'success', mpesaReceipt: 'UKM8EOG5BS', note: 'customer showed the SMS' };
const FAILED = { status: 'failed', note: 'statement shows nothing' };

for (const target of testDatabases()) {
  describe(`resolve routes (${target.name})`, () => {
    let handle: DatabaseHandle;
    let m: TestMerchant;
    let other: TestMerchant;
    let channelId: string;
    const started: DeliveryRef[] = [];

    before(async () => {
      handle = await target.open();
      t = await startTestApp({
        db: handle,
        temporal,
        overrides: { deliveryStarter: { start: async (ref: DeliveryRef) => void started.push(ref) } },
      });
      m = await t.merchant();
      other = await t.merchant('Other merchant');
      channelId = (await t.channel(m.id)).id;
      // a registered endpoint, so each new event plans a delivery the test can see started
      const ep = await t.request('POST', '/v1/webhook-endpoints', {
        key: m.key,
        body: { url: 'https://hooks.example.com/malipo', events: ['*'] },
      });
      assert.ok(ep.status === 201 || ep.status === 200, ep.text);
    });
    after(async () => {
      await t?.close();
      await handle?.close();
    });

    for (const kind of KINDS) {
      const resolve = (id: string, body: unknown, key = m.key) =>
        t.request('POST', `/v1/${kind.name}/${id}/resolve`, { key, body });
      const audit = (id: string) =>
        t.db.selectFrom('audit_log').selectAll().where('target_id', '=', id).execute();
      const events = (id: string) =>
        t.db
          .selectFrom('events')
          .selectAll()
          .where('payment_id', '=', id)
          .orderBy('payment_version')
          .execute();

      describe(kind.name, () => {
        it('an ended workflow: success is written with its event and audit row; the same again is 200', async () => {
          mode = 'ended';
          const id = await kind.create(m.id, channelId, 'needs_review');
          const before = started.length;
          const r = await resolve(id, SUCCESS);
          assert.equal(r.status, 200, r.text);
          assert.equal(r.body.status, 'success');
          assert.equal(r.body.mpesaReceipt, 'UKM8EOG5BS');
          assert.equal(r.body.resolvedBy, 'manual');
          assert.equal(r.body.reviewReason, null);
          assert.equal(updates.at(-1)?.id, id, 'the workflow was asked first');
          assert.equal(updates.at(-1)?.args[0]?.actor, m.keyId);

          const evs = await events(id);
          const last = evs.at(-1)!;
          assert.equal(last.type, `${kind.event}.success`);
          const body = JSON.parse(last.body);
          assert.equal(body.data.resolvedBy, 'manual');
          assert.equal(body.data.mpesaReceipt, 'UKM8EOG5BS');
          assert.ok(started.length > before, 'its webhook delivery started');

          const rows = await audit(id);
          assert.equal(rows.length, 1);
          assert.equal(rows[0]!.action, `${kind.event}.resolve`);
          assert.equal(rows[0]!.actor, m.keyId);
          const details =
            typeof rows[0]!.details === 'string' ? JSON.parse(rows[0]!.details) : rows[0]!.details;
          assert.equal(details.note, 'customer showed the SMS');
          assert.equal(details.status, 'success');
          assert.equal(rows[0]!.request_id, r.headers.get('x-request-id'));

          const again = await resolve(id, SUCCESS);
          assert.equal(again.status, 200, again.text);
          assert.deepEqual(again.body, r.body);
          assert.equal((await audit(id)).length, 1, 'a repeat writes no second audit row');
          assert.equal((await events(id)).length, evs.length, 'nor a second event');

          expectEnvelope(await resolve(id, FAILED), 409, 'RESOLUTION_CONFLICT');
          expectEnvelope(
            await resolve(id, { ...SUCCESS, mpesaReceipt: 'UKM8EOG5BT' }),
            409,
            'RESOLUTION_CONFLICT',
          );
        });

        it('an ended workflow: failed is written with failureReason reviewed', async () => {
          mode = 'ended';
          const id = await kind.create(m.id, channelId, 'needs_review');
          const r = await resolve(id, FAILED);
          assert.equal(r.status, 200, r.text);
          assert.equal(r.body.status, 'failed');
          assert.equal(r.body.failureReason, 'reviewed');
          assert.equal(r.body.mpesaReceipt, null);
          assert.equal((await events(id)).at(-1)?.type, `${kind.event}.failed`);
          assert.equal(
            (await resolve(id, { ...FAILED, note: 'said differently' })).status,
            200,
            'the note is not the resolution',
          );
        });

        it('a workflow that is ending refuses the update: the route writes it directly', async () => {
          mode = 'closing';
          const id = await kind.create(m.id, channelId, 'needs_review');
          const r = await resolve(id, FAILED);
          assert.equal(r.status, 200, r.text);
          assert.equal(r.body.status, 'failed');
          assert.equal(r.body.resolvedBy, 'manual');
          assert.equal((await audit(id)).length, 1);
          assert.equal((await events(id)).at(-1)?.type, `${kind.event}.failed`);
        });

        it('a running workflow records it through the update', async () => {
          mode = 'running';
          const id = await kind.create(m.id, channelId, 'needs_review');
          const r = await resolve(id, { ...SUCCESS, note: '  with spaces  ' });
          assert.equal(r.status, 200, r.text);
          assert.equal(r.body.status, 'success');
          assert.equal(r.body.resolvedBy, 'manual');
          const sent = updates.at(-1)!;
          assert.equal(sent.name, 'resolve');
          assert.deepEqual(
            { ...sent.args[0], requestId: undefined },
            {
              status: 'success',
              mpesaReceipt: 'UKM8EOG5BS',
              note: 'with spaces',
              actor: m.keyId,
              requestId: undefined,
            },
          );
          assert.equal((await audit(id)).length, 1);
        });

        it('not in review → 409 NOT_IN_REVIEW (also when the workflow settled it meanwhile)', async () => {
          mode = 'ended';
          const pending = await kind.create(m.id, channelId, 'pending');
          const b = expectEnvelope(await resolve(pending, SUCCESS), 409, 'NOT_IN_REVIEW');
          assert.match(b.message, /pending/);
          mode = 'refuses';
          const raced = await kind.create(m.id, channelId, 'needs_review');
          // the stand-in refuses without changing the row: it is still needs_review, so the answer names it
          expectEnvelope(await resolve(raced, SUCCESS), 409, 'NOT_IN_REVIEW');
          assert.equal((await audit(raced)).length, 0);
        });

        it('each bad input is a 400 in the envelope, naming the field', async () => {
          mode = 'ended';
          const id = await kind.create(m.id, channelId, 'needs_review');
          const cases: Array<[unknown, string]> = [
            [{ status: 'success', note: 'no receipt' }, 'mpesaReceipt'],
            [{ ...SUCCESS, mpesaReceipt: 'ukm8eog5bs' }, 'mpesaReceipt'],
            [{ ...SUCCESS, mpesaReceipt: 'TOOLONGRECEIPT' }, 'mpesaReceipt'],
            [{ ...FAILED, mpesaReceipt: 'UKM8EOG5BS' }, 'mpesaReceipt'],
            [{ status: 'failed' }, 'note'],
            [{ ...FAILED, note: '   ' }, 'note'],
            [{ ...FAILED, note: 'x'.repeat(501) }, 'note'],
            [{ ...FAILED, note: 'bell\u0007' }, 'note'],
            [{ ...FAILED, status: 'pending' }, 'status'],
            [{ ...FAILED, extra: 1 }, ''],
            [[], ''],
          ];
          for (const [body, field] of cases) {
            const b = expectEnvelope(await resolve(id, body), 400, 'VALIDATION_ERROR');
            const paths = (b.error.details as Array<{ path: string }>).map((d) => d.path);
            assert.ok(
              paths.some((p) => p.includes(field)),
              `${JSON.stringify(body)} names ${field}: ${paths.join(', ')}`,
            );
          }
          expectEnvelope(
            await t.request('POST', `/v1/${kind.name}/${id}/resolve`, { key: m.key, raw: '{"status":' }),
            400,
            'MALFORMED_JSON',
          );
          expectEnvelope(await resolve('nope', FAILED), 400, 'VALIDATION_ERROR');
          assert.equal((await audit(id)).length, 0, 'nothing was resolved');
        });

        it('another merchant’s or an unknown id → 404', async () => {
          mode = 'ended';
          const id = await kind.create(m.id, channelId, 'needs_review');
          expectEnvelope(await resolve(id, FAILED, other.key), 404, 'RESOURCE_NOT_FOUND');
          const unknown = kind.name === 'payments' ? newId('payment') : newId('payout');
          expectEnvelope(await resolve(unknown, FAILED), 404, 'RESOURCE_NOT_FOUND');
          const row = await resolve(id, FAILED);
          assert.equal(row.status, 200, 'still resolvable by its own merchant');
        });

        it(`needs the ${kind.scope} scope (401/403 in the envelope)`, async () => {
          const id = await kind.create(m.id, channelId, 'needs_review');
          await expectSecured(t, m.id, {
            method: 'POST',
            path: `/v1/${kind.name}/${id}/resolve`,
            body: FAILED,
            scope: kind.scope,
          });
          // the read and create scopes do not grant it
          const readOnly = await t.key(m.id, [
            kind.name === 'payments' ? 'payments:read' : 'payouts:read',
            kind.name === 'payments' ? 'payments:create' : 'payouts:create',
            kind.name === 'payments' ? 'payouts:resolve' : 'payments:resolve',
          ]);
          expectEnvelope(await resolve(id, FAILED, readOnly.key), 403, 'MISSING_SCOPE');
          const allowed = await t.key(m.id, [kind.scope]);
          mode = 'ended';
          assert.equal((await resolve(id, FAILED, allowed.key)).status, 200);
        });
      });
    }
  });
}
