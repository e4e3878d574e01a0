/** Where the project's own Temporal binaries live (installed by scripts/ensure-tools). */
import fs from 'node:fs';
import path from 'node:path';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
export const TOOLS_BIN = path.join(PROJECT_ROOT, '.tools', 'bin');
export const TEMPORAL_CLI = path.join(TOOLS_BIN, 'temporal');
export const TEMPORAL_TEST_SERVER = path.join(TOOLS_BIN, 'temporal-test-server');

export function requireTool(file: string): string {
  if (!fs.existsSync(file)) {
    throw new Error(
      `${path.basename(file)} is not installed: run scripts/ensure-tools (it builds it once into .tools/)`,
    );
  }
  return file;
}
