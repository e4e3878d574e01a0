/**
 * Debian's chromium for the browser tests, launched headless through playwright-core. `npm test` installs
 * the package when it is missing (scripts/ensure-tools --test); MALIPO_CHROMIUM names another binary.
 */
import fs from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = process.env.MALIPO_CHROMIUM ?? '/usr/bin/chromium';

/** Fails, never skips, when chromium is missing. The flags keep it off this machine's closed network. */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `chromium is missing at ${CHROMIUM}: the browser tests need it. Install Debian's package (apt-get install -y chromium) or set MALIPO_CHROMIUM.`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-quic',
    ],
  });
}
