/**
 * The MALIPO_PAYOUT_* settings reach every `b2cPayout` workflow the API starts, as its config block (the
 * worker reads nothing from its own environment for payouts). A Temporal stand-in records the start.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { ConfigError, loadConfig } from '../../src/config';
import { DEFAULT_PAYOUT_CONFIG, type PayoutInput } from '../../src/domain/payout';
import { fakeTemporal, startTestApp } from '../helpers/http';

/** Creates one payout through the real route and returns the workflow input the API started. */
async function startedPayout(env: Record<string, string>): Promise<PayoutInput> {
  const starts: PayoutInput[] = [];
  const temporal = {
    ...fakeTemporal,
    workflow: {
      start: async (_type: string, o: { args: [PayoutInput] }) => {
        starts.push(o.args[0]);
        return {};
      },
    },
  } as unknown as Client;
  const t = await startTestApp({ env, temporal });
  try {
    const m = await t.merchant();
    await t.channel(m.id, {
      isDefault: true,
      initiatorName: 'testapi',
      initiatorPassword: 'Safaricom999!*!',
    });
    const r = await t.request('POST', '/v1/payouts', {
      key: m.key,
      body: { phone: '0708374149', amount: 100, remarks: 'Settings test', reference: 'SET-1' },
    });
    assert.equal(r.status, 202, r.text);
    assert.equal(starts.length, 1);
    return starts[0] as PayoutInput;
  } finally {
    await t.close();
  }
}

describe('payout settings', () => {
  it('default to the workflow defaults', async () => {
    const input = await startedPayout({});
    assert.deepEqual(input.config, {
      resultWaitMs: DEFAULT_PAYOUT_CONFIG.resultWaitMs,
      statusWaitMs: DEFAULT_PAYOUT_CONFIG.statusWaitMs,
      statusRetryDelayMs: DEFAULT_PAYOUT_CONFIG.statusRetryDelayMs,
      graceMs: DEFAULT_PAYOUT_CONFIG.graceMs,
    });
  });

  it('flow from the environment into the config block of each payout, in milliseconds', async () => {
    const input = await startedPayout({
      MALIPO_PAYOUT_RESULT_WAIT_SECONDS: '20',
      MALIPO_PAYOUT_STATUS_WAIT_SECONDS: '10',
      MALIPO_PAYOUT_STATUS_RETRY_SECONDS: '2',
      MALIPO_PAYOUT_GRACE_SECONDS: '120',
    });
    assert.deepEqual(input.config, {
      resultWaitMs: 20_000,
      statusWaitMs: 10_000,
      statusRetryDelayMs: 2_000,
      graceMs: 120_000,
    });
  });

  it('refuse values out of range, naming the key', () => {
    const bad = {
      MALIPO_PAYOUT_RESULT_WAIT_SECONDS: ['4', '3601', 'soon'],
      MALIPO_PAYOUT_STATUS_WAIT_SECONDS: ['4', '601'],
      MALIPO_PAYOUT_STATUS_RETRY_SECONDS: ['0', '1.5'],
      MALIPO_PAYOUT_GRACE_SECONDS: ['-1', '604801'],
    };
    for (const [key, values] of Object.entries(bad)) {
      for (const v of values) {
        assert.throws(
          () => loadConfig({ [key]: v }),
          (err: unknown) =>
            err instanceof ConfigError &&
            err.problems.length === 1 &&
            err.problems[0]?.startsWith(`${key}: `),
          `${key}=${v}`,
        );
      }
    }
  });
});
