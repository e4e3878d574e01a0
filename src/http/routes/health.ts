/**
 * GET /healthz (the process is up) and GET /readyz (the database and Temporal answer). A failing part is
 * named (`database`, `temporal`) but its error text is only logged: it may hold hosts, ports or users.
 */
import { z } from 'zod';
import { ping } from '../../db';
import type { Logger } from '../../logger';
import { defineRoute } from '../route';

/** What /readyz says about one part: never the error's own text. */
export type CheckResult = 'ok' | 'unavailable' | 'timeout';

const CHECK_RESULTS = ['ok', 'unavailable', 'timeout'] as const;
const TIMED_OUT = Symbol('timed out');

async function check(
  name: string,
  fn: () => Promise<unknown>,
  log: Pick<Logger, 'warn'>,
  timeoutMs = 3000,
): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(TIMED_OUT), timeoutMs);
      }),
    ]);
    return 'ok';
  } catch (err) {
    if (err === TIMED_OUT) {
      log.warn({ check: name, timeoutMs }, 'readiness check timed out');
      return 'timeout';
    }
    log.warn({ check: name, err }, 'readiness check failed');
    return 'unavailable';
  } finally {
    clearTimeout(timer);
  }
}

const Readiness = z.object({
  status: z.enum(['ready', 'unavailable']),
  failing: z.array(z.enum(['database', 'temporal'])).meta({ description: 'The parts that do not answer' }),
  checks: z.object({ database: z.enum(CHECK_RESULTS), temporal: z.enum(CHECK_RESULTS) }),
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
    503: { description: 'A dependency does not answer; `failing` names it', schema: Readiness },
  },
  handler: async ({ deps, req, reply }) => {
    const log = req.log ?? deps.logger;
    const [database, temporal] = await Promise.all([
      check('database', () => ping(deps.db), log),
      check('temporal', () => deps.temporal.workflowService.getSystemInfo({}), log),
    ]);
    const failing = (['database', 'temporal'] as const).filter(
      (part) => (part === 'database' ? database : temporal) !== 'ok',
    );
    const body = {
      status: failing.length ? ('unavailable' as const) : ('ready' as const),
      failing,
      checks: { database, temporal },
    };
    return failing.length ? reply(503, body) : reply(200, body);
  },
});

export const healthRoutes = [healthz, readyz];
