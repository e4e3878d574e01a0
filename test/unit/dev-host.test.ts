/** Development mode starts only on a loopback HOST, and says so loudly when it starts. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { developmentModeDecision, isLoopbackHost } from '../../src/dev-host';

describe('isLoopbackHost', () => {
  it('accepts 127.0.0.0/8, ::1 in any spelling, and localhost', () => {
    for (const h of [
      '127.0.0.1',
      '127.1.2.3',
      '127.255.255.255',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
      'localhost',
      'LOCALHOST',
      'localhost.',
      ' 127.0.0.1 ',
    ]) {
      assert.ok(isLoopbackHost(h), h);
    }
  });

  it('refuses every-interface addresses, other addresses and other names', () => {
    for (const h of [
      '0.0.0.0',
      '::',
      '[::]',
      '128.0.0.1',
      '10.0.0.5',
      '192.168.1.10',
      '::2',
      '::ffff:10.0.0.1',
      'fe80::1',
      'example.com',
      'localhost.example.com',
      '127.0.0.1.nip.io',
      '',
    ]) {
      assert.ok(!isLoopbackHost(h), h);
    }
  });
});

describe('developmentModeDecision', () => {
  it('refuses development mode on a non-loopback HOST, naming it and the way out', () => {
    const d = developmentModeDecision({ MALIPO_MODE: 'development', HOST: '0.0.0.0' });
    assert.equal(d.start, false);
    assert.ok(!d.start && d.message.includes('HOST=0.0.0.0'));
    assert.ok(!d.start && d.message.includes('MALIPO_MODE=production'));
  });

  it('starts development mode on loopback with a loud warning', () => {
    const d = developmentModeDecision({ MALIPO_MODE: 'development', HOST: '127.0.0.1' });
    assert.equal(d.start, true);
    assert.match((d.start && d.warning) || '', /^DEVELOPMENT MODE/);
  });

  it('production mode starts on any HOST without the warning', () => {
    assert.deepEqual(developmentModeDecision({ MALIPO_MODE: 'production', HOST: '0.0.0.0' }), {
      start: true,
    });
  });
});

describe('malipo dev | api | worker in development mode on HOST=0.0.0.0', () => {
  it('each exits 2 with the reason, before starting anything', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'malipo-devhost-'));
    try {
      for (const command of ['api', 'worker', 'dev']) {
        const r = spawnSync(process.execPath, [path.resolve(__dirname, '../../bin/malipo'), command], {
          env: {
            PATH: process.env.PATH,
            MALIPO_MODE: 'development',
            HOST: '0.0.0.0',
            MALIPO_DATA_DIR: dataDir,
            TEMPORAL_ADDRESS: '127.0.0.1:9',
            LOG_LEVEL: 'warn',
          },
          encoding: 'utf8',
          timeout: 30_000,
        });
        assert.equal(r.status, 2, `${command}: ${r.stderr}`);
        assert.match(r.stderr, /refusing to start in development mode on HOST=0\.0\.0\.0/);
      }
      assert.deepEqual(fs.readdirSync(dataDir), [], 'nothing was created');
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
