/** GET /healthz (the process is up) and GET /readyz (the database and Temporal answer). */
import { z } from 'zod';
import { ping } from '../../db';
import { defineRoute } from '../route';

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

const Readiness = z.object({
  status: z.enum(['ready', 'unavailable']),
  checks: z.object({ database: z.string(), temporal: z.string() }),
});

export const healthz = defineRoute({
  method: 'get',
  path: '/healthz',
  scope: null,
  summary: 'Liveness: the process is up',
  tags: ['meta'],
  responses: { 200: { description: 'Up', schema: z.object({ status: z.literal('ok') }) } },
  handler: ({ reply }) => reply(200, { status: 'ok' }),
});

export const readyz = defineRoute({
  method: 'get',
  path: '/readyz',
  scope: null,
  summary: 'Readiness: the database and Temporal answer',
  tags: ['meta'],
  responses: {
    200: { description: 'Ready', schema: Readiness },
    503: { description: 'A dependency does not answer', schema: Readiness },
  },
  handler: async ({ deps, reply }) => {
    const [database, temporal] = await Promise.all([
      check('database', () => ping(deps.db)),
      check('temporal', () => deps.temporal.workflowService.getSystemInfo({})),
    ]);
    const failing = [database, temporal].filter((x): x is string => x !== null);
    const body = {
      status: failing.length ? ('unavailable' as const) : ('ready' as const),
      checks: { database: database ?? 'ok', temporal: temporal ?? 'ok' },
    };
    return failing.length ? reply(503, body) : reply(200, body);
  },
});

export const healthRoutes = [healthz, readyz];
