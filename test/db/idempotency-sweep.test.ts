/** The idempotency-key sweep activity: bounded batches of expired keys only, on PGlite and PostgreSQL. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createIdempotencyActivities } from '../../activities/idempotency';
import type { DatabaseHandle } from '../../src/db';
import { IdempotencyStore, requestHash } from '../../src/payments/idempotency';
import { testDatabases } from '../helpers/db';

const HOUR = 3_600_000;

for (const target of testDatabases()) {
  describe(`idempotency sweep on ${target.name}`, () => {
    let handle: DatabaseHandle;
    before(async () => {
      handle = await target.open();
    });
    after(async () => {
      await handle?.close();
    });

    /** Inserts a key of `merchant` created `ageHours` ago, in `state`, its lock lapsed unless `locked`. */
    async function key(
      merchant: string,
      n: number,
      ageHours: number,
      state: 'done' | 'in_flight',
      locked = false,
    ): Promise<void> {
      await handle.db
        .insertInto('idempotency_keys')
        .values({
          merchant_id: merchant,
          environment: 'test',
          scope: 'payments:create',
          key: `k-${n}`,
          request_hash: requestHash({ n }),
          state,
          resource_id: `pay_${n}`,
          response_status: state === 'done' ? 202 : null,
          response_body: state === 'done' ? JSON.stringify({ id: `pay_${n}` }) : null,
          created_at: new Date(Date.now() - ageHours * HOUR),
          locked_until: new Date(Date.now() + (locked ? HOUR : -ageHours * HOUR)),
        })
        .execute();
    }

    const keysOf = async (merchant: string) =>
      (
        await handle.db
          .selectFrom('idempotency_keys')
          .select('key')
          .where('merchant_id', '=', merchant)
          .orderBy('key')
          .execute()
      ).map((r) => r.key);

    it('deletes expired keys in batches of at most `limit`, and nothing else', async () => {
      const m = 'mer_batches';
      for (let i = 0; i < 25; i++) await key(m, 100 + i, 72, 'done');
      await key(m, 1, 1, 'done'); // young: replays are promised
      await key(m, 2, 47, 'done'); // just inside the retention
      await key(m, 3, 72, 'in_flight', true); // old, but its holder still holds the lock
      await key(m, 4, 72, 'in_flight'); // old and abandoned
      const store = new IdempotencyStore(handle.db);
      const counts: number[] = [];
      for (let n = -1; n !== 0; ) {
        n = await store.sweep({ olderThanMs: 48 * HOUR, limit: 10 });
        counts.push(n);
      }
      assert.deepEqual(counts, [10, 10, 6, 0]);
      assert.deepEqual(await keysOf(m), ['k-1', 'k-2', 'k-3']);
    });

    it('runs as the worker’s activity, which the sweep workflow calls batch by batch', async () => {
      const m = 'mer_activity';
      for (let i = 0; i < 3; i++) await key(m, 200 + i, 50, 'done');
      await key(m, 5, 2, 'done');
      const acts = createIdempotencyActivities({ db: handle.db });
      const env = new MockActivityEnvironment();
      assert.equal(await env.run(acts.sweepIdempotencyKeys, { retentionHours: 48, batchSize: 2 }), 2);
      assert.equal(await env.run(acts.sweepIdempotencyKeys, { retentionHours: 48, batchSize: 2 }), 1);
      assert.equal(await env.run(acts.sweepIdempotencyKeys, { retentionHours: 48, batchSize: 2 }), 0);
      assert.deepEqual(await keysOf(m), ['k-5']);
    });

    it('a swept key starts afresh; a kept one still replays', async () => {
      const store = new IdempotencyStore(handle.db);
      const scope = { merchantId: 'mer_replay', environment: 'test', scope: 'payments:create', key: 'k-9' };
      await key('mer_replay', 9, 72, 'done');
      await key('mer_replay', 8, 1, 'done');
      assert.equal((await store.begin(scope, requestHash({ n: 9 }), 'pay_new')).kind, 'replay');
      await store.sweep({ olderThanMs: 48 * HOUR, limit: 100 });
      assert.deepEqual(await store.begin(scope, requestHash({ n: 9 }), 'pay_new'), {
        kind: 'new',
        resourceId: 'pay_new',
        takenOver: false,
      });
      const kept = { ...scope, key: 'k-8' };
      assert.equal((await store.begin(kept, requestHash({ n: 8 }), 'pay_x')).kind, 'replay');
    });
  });
}
