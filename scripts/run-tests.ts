/**
 * Runs the whole test suite with Node's built-in test runner (through tsx).
 *   npm test                 every *.test.ts under test/
 *   npm test -- unit e2e     only the files whose path contains one of the words
 * Each file starts the servers it needs (time-skipping server, dev server, simulator), so files
 * run two at a time on a 2-core machine. MALIPO_TEST_DATABASE_URL adds a PostgreSQL pass to the DB tests.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..');
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));

function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.name.endsWith('.test.ts') ? [p] : [];
  });
}

const files = walk(path.join(root, 'test'))
  .map((f) => path.relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
  .sort();

if (files.length === 0) {
  console.error(`no test files match ${filters.join(', ')}`);
  process.exit(1);
}

const concurrency = process.env.MALIPO_TEST_CONCURRENCY ?? '2';
const started = Date.now();
const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=spec',
    `--test-concurrency=${concurrency}`,
    '--test-timeout=600000',
    ...files,
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' } },
);
console.log(`test files: ${files.length}, wall time: ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(result.status ?? 1);
