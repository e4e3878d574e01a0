/** Table types for the Kysely query layer, one interface per table, composed into `Database`. */
import type { Generated } from 'kysely';

export interface MetaTable {
  key: string;
  value: string;
  updated_at: Generated<Date>;
}

export interface Database {
  malipo_meta: MetaTable;
}
