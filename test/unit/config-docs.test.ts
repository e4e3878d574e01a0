/** docs/configuration.md is generated from src/config.ts: it must be what `npm run docs:config` writes. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CONFIG_DOCS_PATH, renderConfigDocs } from '../../scripts/gen-config-docs';
import { EnvSchema } from '../../src/config';

const ROOT = path.resolve(__dirname, '..', '..');

describe('docs/configuration.md', () => {
  it('is exactly what the schema generates (run `npm run docs:config` after changing src/config.ts)', () => {
    assert.equal(fs.readFileSync(CONFIG_DOCS_PATH, 'utf8'), renderConfigDocs());
  });

  it('lists every variable src/config.ts reads, each with a description', () => {
    const page = fs.readFileSync(CONFIG_DOCS_PATH, 'utf8');
    const source = fs.readFileSync(path.join(ROOT, 'src', 'config.ts'), 'utf8');
    const read = new Set([...source.matchAll(/^ {2}([A-Z][A-Z0-9_]+): /gm)].map((m) => m[1]!));
    assert.deepEqual([...read].sort(), Object.keys(EnvSchema.shape).sort());
    for (const name of read) assert.match(page, new RegExp(`^\\| \`${name}\` +\\|`, 'm'), name);
  });

  it('`npm run docs:config -- --check` passes on the committed page', async () => {
    const { spawnSync } = await import('node:child_process');
    const ok = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/gen-config-docs.ts', '--check'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(ok.status, 0, ok.stderr);
  });
});
