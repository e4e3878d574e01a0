/** Activities are built by createActivities(deps): production passes real clients, tests pass fakes. */
import type { Config } from '../src/config';
import type { Db } from '../src/db';
import type { Logger } from '../src/logger';

export interface ActivityDeps {
  config: Config;
  db: Db;
  logger: Logger;
}

export function createActivities(_deps: ActivityDeps) {
  return {};
}

export type Activities = ReturnType<typeof createActivities>;
