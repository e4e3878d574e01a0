/** GET /healthz and /readyz: a failing part is named, its error text only logged. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { openDatabase } from '../../src/db';
import { createLogger } from '../../src/logger';
import { startTestApp } from '../helpers/http';

/** An error text of the kind a driver produces: hosts, ports, users. None of it may reach a caller. */
const RAW = 'connect ECONNREFUSED 10.20.30.40:7233 user=malipo_admin';

const brokenTemporal = {
  workflowService: {
    getSystemInfo: async () => {
      throw new Error(RAW);
    },
  },
} as unknown as Client;

describe('/readyz', () => {
  it('is 200 with every part ok', async () => {
    const t = await startTestApp();
    try {
      const r = await t.request('GET', '/readyz');
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { status: 'ready', failing: [], checks: { database: 'ok', temporal: 'ok' } });
      assert.deepEqual((await t.request('GET', '/healthz')).body, { status: 'ok' });
    } finally {
      await t.close();
    }
  });

  it('names a failing Temporal without its error text, which is logged', async () => {
    const lines: string[] = [];
    const t = await startTestApp({
      temporal: brokenTemporal,
      logger: createLogger('info', { write: (l) => void lines.push(l) }),
    });
    try {
      const r = await t.request('GET', '/readyz');
      assert.equal(r.status, 503);
      assert.deepEqual(r.body, {
        status: 'unavailable',
        failing: ['temporal'],
        checks: { database: 'ok', temporal: 'unavailable' },
      });
      assert.ok(!r.text.includes('10.20.30.40') && !r.text.includes('malipo_admin'), r.text);
      assert.ok(
        lines.some((l) => l.includes('readiness check failed') && l.includes('"check":"temporal"')),
        'the cause is in the log',
      );
    } finally {
      await t.close();
    }
  });

  it('names a failing database', async () => {
    const db = await openDatabase({});
    const t = await startTestApp({ db, logger: createLogger('silent') });
    try {
      await db.close();
      const r = await t.request('GET', '/readyz');
      assert.equal(r.status, 503);
      assert.deepEqual(r.body.failing, ['database']);
      assert.equal(r.body.checks.database, 'unavailable');
      assert.equal(r.body.checks.temporal, 'ok');
      assert.ok(!/closed|pglite|error/i.test(r.text), r.text);
    } finally {
      await t.close();
    }
  });
});
