import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config';
import { DEFAULT_STK_CONFIG, resolveStkConfig } from '../../src/domain/stk';
import { RECONCILE_SCHEDULE_MS, reconcileSchedule } from '../../src/domain/reconciliation';
import { stkConfigFrom } from '../../src/payments/settings';
import { payoutConfigFrom } from '../../src/payouts/settings';
import { workerTuningFrom } from '../../src/temporal/worker';

/** The one problem loadConfig reports for `env`. */
function problemOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems.length, 1, err.message);
    return err.problems[0] as string;
  }
  assert.fail(`expected ConfigError for ${JSON.stringify(env)}`);
}

describe('config', () => {
  it('has embedded-mode defaults', () => {
    const c = loadConfig({});
    assert.equal(c.PORT, 3000);
    assert.equal(c.MALIPO_MODE, 'development');
    assert.equal(c.TEMPORAL_ADDRESS, undefined);
    assert.equal(c.TEMPORAL_NAMESPACE, 'default');
    assert.equal(c.TEMPORAL_UI_PORT, 8233);
    assert.equal(c.DATABASE_URL, undefined);
    assert.equal(c.publicUrl, 'http://127.0.0.1:3000');
    assert.equal(c.MALIPO_SANDBOX, true);
  });

  it('lists every problem at once', () => {
    try {
      loadConfig({ PORT: 'abc', MALIPO_MODE: 'staging', LOG_LEVEL: 'loud' });
      assert.fail('expected ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 3);
      assert.match(err.message, /PORT/);
      assert.match(err.message, /MALIPO_MODE/);
      assert.match(err.message, /LOG_LEVEL/);
    }
  });

  it('requires a public URL and an encryption key in production, and never mounts the sandbox', () => {
    assert.throws(
      () => loadConfig({ MALIPO_MODE: 'production' }),
      (err: ConfigError) => {
        assert.equal(err.problems.length, 2);
        return true;
      },
    );
    const c = loadConfig({
      MALIPO_MODE: 'production',
      MALIPO_PUBLIC_URL: 'https://pay.example.co.ke/',
      MALIPO_ENCRYPTION_KEY: 'a'.repeat(64),
      MALIPO_SANDBOX: 'true',
    });
    assert.equal(c.publicUrl, 'https://pay.example.co.ke');
    assert.equal(c.MALIPO_SANDBOX, false);
  });

  it('keeps secrets out of logs and inspection', () => {
    const c = loadConfig({ DATABASE_URL: 'postgres://u:hunter2@db/x', TEMPORAL_API_KEY: 'tk-123' });
    assert.equal(c.DATABASE_URL?.reveal(), 'postgres://u:hunter2@db/x');
    assert.doesNotMatch(JSON.stringify(c), /hunter2|tk-123/);
    assert.doesNotMatch(inspect(c), /hunter2|tk-123/);
    assert.doesNotMatch(String(c.TEMPORAL_API_KEY), /tk-123/);
  });

  it('rejects a malformed encryption key and half a TLS pair', () => {
    assert.throws(() => loadConfig({ MALIPO_ENCRYPTION_KEY: 'short' }), /MALIPO_ENCRYPTION_KEY/);
    assert.throws(() => loadConfig({ TEMPORAL_TLS_CERT_PATH: '/x.pem' }), /TEMPORAL_TLS_KEY_PATH/);
  });

  describe('STK query cadence', () => {
    it('defaults to a first query after 20 s and intervals capped at 60 s, the workflow defaults', () => {
      const c = loadConfig({});
      assert.equal(c.MALIPO_STK_QUERY_FIRST_SECONDS, 20);
      assert.equal(c.MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS, 60);
      const stk = stkConfigFrom(c);
      assert.equal(stk.firstQueryDelayMs, 20_000);
      assert.equal(stk.maxQueryIntervalMs, 60_000);
      assert.equal(stk.firstQueryDelayMs, DEFAULT_STK_CONFIG.firstQueryDelayMs);
      assert.equal(stk.maxQueryIntervalMs, DEFAULT_STK_CONFIG.maxQueryIntervalMs);
    });

    it('flows into the STK config block each payment carries, in milliseconds', () => {
      const c = loadConfig({
        MALIPO_STK_DEADLINE_SECONDS: '3600',
        MALIPO_STK_QUERY_FIRST_SECONDS: '45',
        MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS: '600',
      });
      assert.equal(c.MALIPO_STK_QUERY_FIRST_SECONDS, 45);
      assert.equal(c.MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS, 600);
      assert.deepEqual(stkConfigFrom(c), {
        deadlineMs: 3_600_000,
        graceMs: 1_800_000,
        confirmSuccessByQuery: true,
        firstQueryDelayMs: 45_000,
        maxQueryIntervalMs: 600_000,
      });
      const resolved = resolveStkConfig(stkConfigFrom(c));
      assert.equal(resolved.firstQueryDelayMs, 45_000);
      assert.equal(resolved.maxQueryIntervalMs, 600_000);
      assert.equal(resolved.queryBackoffCoefficient, 1.5);
    });

    it('accepts the bounds and a cap equal to the first delay', () => {
      const low = loadConfig({
        MALIPO_STK_QUERY_FIRST_SECONDS: '5',
        MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS: '10',
      });
      assert.equal(stkConfigFrom(low).firstQueryDelayMs, 5000);
      assert.equal(stkConfigFrom(low).maxQueryIntervalMs, 10_000);
      const high = loadConfig({
        MALIPO_STK_QUERY_FIRST_SECONDS: '3600',
        MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS: '3600',
      });
      assert.equal(stkConfigFrom(high).firstQueryDelayMs, 3_600_000);
      assert.equal(stkConfigFrom(high).maxQueryIntervalMs, 3_600_000);
    });

    it('rejects values out of range or not whole seconds, naming the key', () => {
      for (const v of ['4', '3601', '0', '-5', '2.5', 'soon']) {
        // a cap of 3600 keeps the cross-field check out of the way
        assert.match(
          problemOf({ MALIPO_STK_QUERY_FIRST_SECONDS: v, MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS: '3600' }),
          /^MALIPO_STK_QUERY_FIRST_SECONDS: /,
          v,
        );
      }
      for (const v of ['9', '3601', '0', '1.5', 'often']) {
        assert.match(
          problemOf({ MALIPO_STK_QUERY_FIRST_SECONDS: '5', MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS: v }),
          /^MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS: /,
          v,
        );
      }
    });

    it('rejects a cap below the first delay, naming both keys', () => {
      const problem = problemOf({
        MALIPO_STK_QUERY_FIRST_SECONDS: '120',
        MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS: '60',
      });
      assert.match(problem, /^MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS: /);
      assert.match(problem, /MALIPO_STK_QUERY_FIRST_SECONDS \(120\)/);
      // the default cap (60) is below a first delay over 60 s, so raising one alone is refused too
      assert.match(
        problemOf({ MALIPO_STK_QUERY_FIRST_SECONDS: '90' }),
        /MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS/,
      );
    });
  });

  describe('reconciliation schedule scale', () => {
    it('is 1 by default: the production schedule, and nothing of it in the workflow inputs', () => {
      const c = loadConfig({});
      assert.equal(c.MALIPO_RECONCILE_SCHEDULE_SCALE, 1);
      assert.ok(!('reconcileScheduleScale' in stkConfigFrom(c)));
      assert.ok(!('reconcileScheduleScale' in payoutConfigFrom(c)));
      assert.equal(resolveStkConfig(stkConfigFrom(c)).reconcileScheduleScale, 1);
      assert.equal(reconcileSchedule(1), RECONCILE_SCHEDULE_MS);
    });

    it('reaches the payment and payout inputs and compresses every offset', () => {
      const c = loadConfig({ MALIPO_RECONCILE_SCHEDULE_SCALE: '0.0002' });
      assert.equal(stkConfigFrom(c).reconcileScheduleScale, 0.0002);
      assert.equal(payoutConfigFrom(c).reconcileScheduleScale, 0.0002);
      const scaled = reconcileSchedule(0.0002);
      assert.equal(scaled.length, RECONCILE_SCHEDULE_MS.length);
      assert.equal(scaled[0], 60); // 5 min
      assert.equal(scaled.at(-1), 120_960); // 7 days
      assert.ok(reconcileSchedule(0.00001).every((ms) => ms >= 1));
    });

    it('refuses 0, negatives, more than 1 and words, naming the key; production mode refuses any scale but 1', () => {
      for (const v of ['0', '-0.5', '0.000001', '1.5', 'fast']) {
        assert.match(
          problemOf({ MALIPO_RECONCILE_SCHEDULE_SCALE: v }),
          /^MALIPO_RECONCILE_SCHEDULE_SCALE: /,
          v,
        );
      }
      assert.throws(
        () =>
          loadConfig({
            MALIPO_MODE: 'production',
            MALIPO_PUBLIC_URL: 'https://pay.example.com',
            MALIPO_ENCRYPTION_KEY: 'a'.repeat(64),
            MALIPO_RECONCILE_SCHEDULE_SCALE: '0.5',
          }),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.problems.some((p) => /^MALIPO_RECONCILE_SCHEDULE_SCALE: a test-only setting/.test(p)),
      );
    });
  });

  describe('worker sticky cache', () => {
    it("is unset by default, so the worker gets no maxCachedWorkflows and the SDK's default applies", () => {
      const c = loadConfig({});
      assert.equal(c.MALIPO_WORKER_MAX_CACHED_WORKFLOWS, undefined);
      assert.deepEqual(workerTuningFrom(c), {});
      assert.ok(!('maxCachedWorkflows' in workerTuningFrom(c)));
      assert.deepEqual(workerTuningFrom(loadConfig({ MALIPO_WORKER_MAX_CACHED_WORKFLOWS: '' })), {});
    });

    it('reaches the worker options as maxCachedWorkflows', () => {
      const c = loadConfig({ MALIPO_WORKER_MAX_CACHED_WORKFLOWS: '600' });
      assert.equal(c.MALIPO_WORKER_MAX_CACHED_WORKFLOWS, 600);
      assert.deepEqual(workerTuningFrom(c), { maxCachedWorkflows: 600 });
    });

    it('rejects anything but a positive integer, naming the key', () => {
      for (const v of ['0', '-1', '1.5', 'lots']) {
        assert.match(
          problemOf({ MALIPO_WORKER_MAX_CACHED_WORKFLOWS: v }),
          /^MALIPO_WORKER_MAX_CACHED_WORKFLOWS: /,
          v,
        );
      }
    });
  });

  describe('dashboard', () => {
    const production = {
      MALIPO_MODE: 'production',
      MALIPO_PUBLIC_URL: 'https://pay.example.co.ke',
      MALIPO_ENCRYPTION_KEY: '0'.repeat(64),
    };
    it('opens sign-up in development and closes it in production, unless set', () => {
      assert.equal(loadConfig({}).signup, 'open');
      assert.equal(loadConfig(production).signup, 'closed');
      assert.equal(loadConfig({ ...production, MALIPO_SIGNUP: 'open' }).signup, 'open');
      assert.equal(loadConfig({ MALIPO_SIGNUP: 'closed' }).signup, 'closed');
      assert.match(problemOf({ MALIPO_SIGNUP: 'maybe' }), /^MALIPO_SIGNUP: /);
    });
    it('links the embedded Temporal UI in development, nothing in production unless set', () => {
      assert.equal(loadConfig({ TEMPORAL_UI_PORT: '9233' }).temporalUiUrl, 'http://127.0.0.1:9233');
      assert.equal(loadConfig(production).temporalUiUrl, undefined);
      assert.equal(
        loadConfig({ ...production, MALIPO_TEMPORAL_UI_URL: 'https://temporal.example.co.ke/' })
          .temporalUiUrl,
        'https://temporal.example.co.ke',
      );
      assert.match(problemOf({ MALIPO_TEMPORAL_UI_URL: 'not a url' }), /^MALIPO_TEMPORAL_UI_URL: /);
    });
  });
  describe('Daraja allowed hosts', () => {
    it('is empty by default; a comma-separated list becomes lower-case host names', () => {
      assert.deepEqual(loadConfig({}).MALIPO_DARAJA_ALLOWED_HOSTS, []);
      assert.deepEqual(
        loadConfig({ MALIPO_DARAJA_ALLOWED_HOSTS: ' Proxy.Example.com., daraja-egress.internal ,' })
          .MALIPO_DARAJA_ALLOWED_HOSTS,
        ['proxy.example.com', 'daraja-egress.internal'],
      );
    });

    it('rejects an entry with a scheme, port or path, naming the key', () => {
      for (const v of ['https://proxy.example.com', 'proxy.example.com:8443', 'proxy.example.com/daraja']) {
        assert.match(problemOf({ MALIPO_DARAJA_ALLOWED_HOSTS: v }), /^MALIPO_DARAJA_ALLOWED_HOSTS\.0: /, v);
      }
    });
  });
});

describe('MALIPO_TRUST_PROXY', () => {
  it('is off by default and takes false, a hop count or proxy addresses', () => {
    assert.equal(loadConfig({}).MALIPO_TRUST_PROXY, false);
    assert.equal(loadConfig({ MALIPO_TRUST_PROXY: 'false' }).MALIPO_TRUST_PROXY, false);
    assert.equal(loadConfig({ MALIPO_TRUST_PROXY: '0' }).MALIPO_TRUST_PROXY, false);
    assert.equal(loadConfig({ MALIPO_TRUST_PROXY: '2' }).MALIPO_TRUST_PROXY, 2);
    assert.deepEqual(
      loadConfig({ MALIPO_TRUST_PROXY: '10.0.0.0/8, 192.0.2.7,2001:db8::/32,loopback' }).MALIPO_TRUST_PROXY,
      ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', 'loopback'],
    );
    assert.equal(loadConfig({ MALIPO_TRUST_PROXY: 'true' }).MALIPO_TRUST_PROXY, true, 'development only');
  });

  it('refuses anything else, and plain true in production', () => {
    for (const bad of ['yes', '11', '10.0.0.0/33', '10.0.0.1,', 'proxy.example.com', '1.2.3.4/8/1']) {
      assert.match(
        problemOf({ MALIPO_TRUST_PROXY: bad }),
        /^MALIPO_TRUST_PROXY: expected false, a hop count/,
      );
    }
    assert.match(
      problemOf({
        MALIPO_MODE: 'production',
        MALIPO_PUBLIC_URL: 'https://pay.example.com',
        MALIPO_ENCRYPTION_KEY: 'a'.repeat(64),
        MALIPO_TRUST_PROXY: 'true',
      }),
      /^MALIPO_TRUST_PROXY: `true` believes any X-Forwarded-For/,
    );
  });
});
