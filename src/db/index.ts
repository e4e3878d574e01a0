/**
 * The database: PostgreSQL dialect everywhere. PGlite (Postgres compiled to WASM) persisted under
 * the data dir by default, a real PostgreSQL server when DATABASE_URL is set; one Kysely query layer
 * over both, and versioned migrations applied at boot.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, type LogEvent, Migrator, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { migrations } from './migrations';
import type { Database } from './schema';

export type Db = Kysely<Database>;

export interface DatabaseHandle {
  db: Db;
  /** `pglite` for the embedded database, `postgres` for a server. */
  kind: 'pglite' | 'postgres';
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** postgres://… for a server; otherwise PGlite. */
  url?: string | undefined;
  /** PGlite directory; omitted means in memory (tests). */
  dataDir?: string | undefined;
  /** Apply migrations (default true). */
  migrate?: boolean;
  poolSize?: number;
  /** Called after every query with its SQL and duration (the benchmark counts round trips with it). */
  onQuery?: ((sql: string, durationMs: number) => void) | undefined;
}

// pg returns int8 as string by default; our int8 columns (counters, unix ms) fit in a double.
pg.types.setTypeParser(20, (v) => Number(v));

/**
 * PGlite has one connection. Kysely's Postgres driver asks a pool for clients and runs transactions
 * on one of them, so the pool hands out that one connection to one holder at a time.
 */
function pgliteAsPool(pglite: PGlite) {
  let tail: Promise<void> = Promise.resolve();
  return {
    async connect() {
      let release!: () => void;
      const previous = tail;
      tail = new Promise<void>((resolve) => {
        release = resolve;
      });
      await previous;
      return {
        query: async (text: string, params?: unknown[]) => {
          const r = await pglite.query(text, params as unknown[] | undefined);
          return { command: r.command, rowCount: r.affectedRows ?? r.rows.length, rows: r.rows };
        },
        release: () => release(),
      };
    },
    async end() {
      await tail;
      await pglite.close();
    },
  };
}

export async function openDatabase(opts: OpenDatabaseOptions = {}): Promise<DatabaseHandle> {
  let handle: DatabaseHandle;
  const onQuery = opts.onQuery;
  const log = onQuery ? { log: (e: LogEvent) => onQuery(e.query.sql, e.queryDurationMillis) } : {};
  if (opts.url) {
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 10 });
    pool.on('error', () => {
      /* an idle client died; the pool replaces it */
    });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), ...log });
    handle = { db, kind: 'postgres', close: () => db.destroy() };
  } else {
    if (opts.dataDir) fs.mkdirSync(path.dirname(opts.dataDir), { recursive: true });
    const pglite = await PGlite.create(opts.dataDir ? { dataDir: opts.dataDir } : {});
    const db = new Kysely<Database>({
      // biome-ignore lint/suspicious/noExplicitAny: the adapter satisfies the structural pool interface Kysely uses
      dialect: new PostgresDialect({ pool: pgliteAsPool(pglite) as any }),
      ...log,
    });
    handle = { db, kind: 'pglite', close: () => db.destroy() };
  }
  if (opts.migrate !== false) await migrate(handle.db);
  return handle;
}

/** Applies pending migrations in order; safe to call on every boot and from several processes. */
export async function migrate(db: Db): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'malipo_migrations',
    migrationLockTableName: 'malipo_migrations_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** One round trip, used by /readyz. */
export async function ping(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}
