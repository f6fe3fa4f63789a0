import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DataSource } from 'typeorm';
import { ensureDirectory } from '../../../util/fs.util.js';
import { REKEY_MIGRATION } from '../../migrations/v4-hash-session-ids.js';
import { sqliteHandle } from './sqlite-handle.js';
import { sqliteMigrationSteps } from './sqlite-migration-steps.js';
import {
  drainWalEvery,
  SQLITE_JOURNAL_SIZE_LIMIT,
  SQLITE_WAL_BACKSTOP_PAGES,
  startWalCheckpointer,
  stopWalCheckpointer,
} from './sqlite-wal-checkpointer.js';
import { DEFAULT_SESSION_DB_BUSY_TIMEOUT_MS } from '../../../settings/setting.constants.js';
import type { ResolvedSessionOptions } from '../../config/session.options.js';
import type { SessionDialect } from '../session-dialect.js';
import { SQLITE_SERVING_BUSY_TIMEOUT_MS, SqliteExecutor } from './sqlite.executor.js';

/** How long opening the SQLite file (journal mode) waits for another process's lock. */
const SQLITE_OPEN_BUSY_TIMEOUT_MS = 5000;
/** How long a booting process waits for another one's migrations (a re-key takes seconds). */
const SQLITE_MIGRATION_LOCK_TIMEOUT_MS = 120_000;

/**
 * Serializes migrations across processes sharing one SQLite file: TypeORM reads which
 * migrations ran before it opens its transaction, so two processes booting at once would
 * both run (and record) the pending ones. The write lock is taken first (BEGIN IMMEDIATE),
 * and the migrations run inside it; the second process waits, then finds them done. That
 * wait is SQLite's own busy_timeout, which blocks the thread: nothing is served yet at boot,
 * and the transaction holds while TypeORM's migrations run. Then the connection is set to
 * serve: no wait inside SQLite, the executor retries on a timer (SqliteExecutor).
 */
async function migrateSqlite(
  ds: DataSource,
  lockTimeoutMs = SQLITE_MIGRATION_LOCK_TIMEOUT_MS,
): Promise<void> {
  const db = sqliteHandle(ds);
  db.pragma(`busy_timeout = ${lockTimeoutMs}`);
  try {
    db.exec('BEGIN IMMEDIATE');
    let ran: { name: string }[];
    try {
      ran = await ds.runMigrations({ transaction: 'none' });
      db.exec('COMMIT');
    } catch (e) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw e;
    }
    // Pages an earlier release freed (logged-out sessions, their tokens in plain text) stay
    // in the file until reused; secure_delete scrubs only what is deleted from now on. The
    // release that re-keys the table rebuilds the file once, without them.
    if (ran.some((m) => m.name === REKEY_MIGRATION)) {
      db.exec('VACUUM');
      // The rebuilt pages are in the WAL; copying them back overwrites the old file's.
      db.pragma('wal_checkpoint(TRUNCATE)');
    }
  } finally {
    db.pragma(`busy_timeout = ${SQLITE_SERVING_BUSY_TIMEOUT_MS}`);
  }
}

/**
 * The session file readable by its owner only (mode 600), made so before SQLite opens it:
 * SQLite creates the `-wal` and `-shm` files with the database file's mode. Files an
 * earlier release made (mode 644 under the usual umask) are narrowed too.
 */
function restrictSqliteFiles(database: string): void {
  fs.closeSync(fs.openSync(database, 'a', 0o600));
  for (const file of [database, `${database}-wal`, `${database}-shm`, `${database}-journal`]) {
    try {
      fs.chmodSync(file, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

/** A file on disk (not `:memory:`): what has files to restrict and a WAL to checkpoint. */
const fileOf = (database: string) => (database === ':memory:' ? undefined : database);

/** The session file the options name, if they name one. */
const sessionFile = ({ target }: ResolvedSessionOptions) =>
  target.kind === 'sqlite' ? fileOf(target.database) : undefined;

/**
 * An SQLite file, served by one process (standalone): its in-process locks are the whole
 * lock, and a statement that finds the file locked by another process (a backup, the admin
 * CLI) retries on a timer, never inside SQLite.
 */
export const sqliteDialect: SessionDialect = {
  sql: {
    param: () => '?',
    least: 'MIN',
    // The implicit rowid: deleting by it walks the table's own b-tree.
    batchKey: 'rowid',
    hasSchemas: false,
    types: { bigint: 'INTEGER', text: 'TEXT', serialKey: 'INTEGER PRIMARY KEY AUTOINCREMENT' },
  },
  migrationSteps: sqliteMigrationSteps,
  driverOptions(_options, target) {
    if (target.kind !== 'sqlite') throw new Error('the SQLite dialect opens SQLite files');
    return {
      type: 'better-sqlite3',
      database: target.database,
      enableWAL: fileOf(target.database) !== undefined,
      // WAL + NORMAL keeps every committed write across a process crash (only an OS crash
      // may lose the last transactions). Opening waits for another process's lock (boot may
      // block); once migrated, the connection stops waiting inside SQLite (migrateSqlite).
      prepareDatabase: (db: { pragma(sql: string): unknown }) => {
        db.pragma(`busy_timeout = ${SQLITE_OPEN_BUSY_TIMEOUT_MS}`);
        db.pragma('synchronous = NORMAL');
        // Deleted rows (ended sessions) are overwritten with zeros, not left in free pages.
        db.pragma('secure_delete = ON');
        // Checkpoints run in a worker (SqliteWalCheckpointer); these bound the WAL without it.
        db.pragma(`wal_autocheckpoint = ${SQLITE_WAL_BACKSTOP_PAGES}`);
        db.pragma(`journal_size_limit = ${SQLITE_JOURNAL_SIZE_LIMIT}`);
      },
    };
  },
  beforeOpen(options) {
    const file = sessionFile(options);
    if (!file) return;
    ensureDirectory(path.dirname(file));
    restrictSqliteFiles(file);
  },
  migrate: (dataSource, _options, lockTimeoutMs) => migrateSqlite(dataSource, lockTimeoutMs),
  afterMigrate(dataSource, options) {
    const file = sessionFile(options);
    if (file) startWalCheckpointer(dataSource, file);
  },
  beforeClose: stopWalCheckpointer,
  afterPruneBatch: drainWalEvery,
  executor: (dataSource, { busyTimeoutMs = DEFAULT_SESSION_DB_BUSY_TIMEOUT_MS }) =>
    new SqliteExecutor(sqliteHandle(dataSource), busyTimeoutMs),
};
