/** GET /healthz (the process is up) and GET /readyz (the database and Temporal answer). */
import type { Express } from 'express';
import { ping } from '../../db';
import type { AppDeps } from '../app';

async function check(name: string, fn: () => Promise<unknown>, timeoutMs = 3000): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), timeoutMs);
      }),
    ]);
    return null;
  } catch (err) {
    return `${name}: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    clearTimeout(timer);
  }
}

export function registerHealth(app: Express, deps: Pick<AppDeps, 'db' | 'temporal'>): void {
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const [database, temporal] = await Promise.all([
      check('database', () => ping(deps.db)),
      check('temporal', () => deps.temporal.workflowService.getSystemInfo({})),
    ]);
    const failing = [database, temporal].filter((x): x is string => x !== null);
    res.status(failing.length ? 503 : 200).json({
      status: failing.length ? 'unavailable' : 'ready',
      checks: { database: database ?? 'ok', temporal: temporal ?? 'ok' },
    });
  });
}
