/** Versioned migrations, applied in name order. Add a file and list it here; never edit an applied one. */
import type { Migration } from 'kysely';
import * as m001 from './001_foundation';

export const migrations: Record<string, Migration> = {
  '001_foundation': m001,
};
