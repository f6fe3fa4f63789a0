import { Logger } from '@nestjs/common';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataSource, DataSourceOptions } from 'typeorm';
import { ensureDirectory } from '../util/fs.util.js';
import { redactSecrets, urlPassword } from '../util/redact.util.js';
import {
  migrationsTableName,
  REKEY_MIGRATION,
  sessionMigrations,
} from './migrations/session.migrations.js';
import { describeSessionDb } from './session-db-url.util.js';
import type { ResolvedSessionOptions } from './session.options.js';
import { quoteIdent, SessionTableRef } from './session-sql.js';
import { SessionCipher } from './session-cipher.js';
import { SessionStoreBackend } from './session-store.backend.js';
import { SessionRevocations } from './session-revocations.js';
import { SQLITE_SERVING_BUSY_TIMEOUT_MS, sqliteHandle } from './session-sql.executor.js';
import { withAdvisoryLock } from './advisory-lock.js';
import {
  SQLITE_JOURNAL_SIZE_LIMIT,
  SQLITE_WAL_BACKSTOP_PAGES,
  SqliteWalCheckpointer,
} from './sqlite-wal-checkpointer.js';

/** The session database could not be opened or migrated; the message is safe to print. */
export class SessionDbUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SessionDbUnavailableError';
  }
}

export function sessionTableRef(options: ResolvedSessionOptions): SessionTableRef {
  return { kind: options.target.kind, table: options.tableName, schema: options.schema };
}

function dataSourceOptions(options: ResolvedSessionOptions): DataSourceOptions {
  const ref = sessionTableRef(options);
  const common = {
    migrations: sessionMigrations(ref),
    migrationsTableName: migrationsTableName(options.tableName),
    migrationsRun: false,
    synchronize: false,
    // TypeORM would log query parameters (session data, tokens) on errors.
    logging: false,
  } as const;
  const { target } = options;
  if (target.kind === 'sqlite') {
    return {
      ...common,
      type: 'better-sqlite3',
      database: target.database,
      enableWAL: target.database !== ':memory:',
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
  }
  return {
    ...common,
    type: 'postgres',
    url: target.url,
    schema: options.schema,
    applicationName: 'bodhi-session',
    extra: { max: options.poolSize, connectionTimeoutMillis: 10_000 },
  };
}

/**
 * The session DataSource: on a SQLite file it owns the WAL checkpoint worker, stopped (its
 * connection closed) before the request thread's connection closes.
 */
export class SessionDataSource extends DataSource {
  private checkpointer?: SqliteWalCheckpointer;

  /** Starts checkpointing in a worker; on its failure SQLite's own checkpoints resume. */
  startWalCheckpointer(file: string): void {
    this.checkpointer = SqliteWalCheckpointer.start(file, () => {
      if (this.isInitialized) sqliteHandle(this).pragma('wal_autocheckpoint = 1000');
    });
  }

  /** See `SqliteWalCheckpointer.drain`; resolves at once without a checkpoint worker. */
  async drainWal(): Promise<void> {
    await this.checkpointer?.drain();
  }

  override async destroy(): Promise<void> {
    await this.checkpointer?.stop();
    this.checkpointer = undefined;
    await super.destroy();
  }
}

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
async function migrateSqlite(ds: DataSource): Promise<void> {
  const db = sqliteHandle(ds);
  db.pragma(`busy_timeout = ${SQLITE_MIGRATION_LOCK_TIMEOUT_MS}`);
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

/**
 * Serializes migrations across processes sharing one PostgreSQL: an advisory lock held while
 * the schema is created and migrations run.
 */
async function migratePostgres(ds: DataSource, options: ResolvedSessionOptions): Promise<void> {
  const key = `bodhi-session-migrate:${options.schema ?? 'public'}.${options.tableName}`;
  await withAdvisoryLock(ds, key, 'block', async () => {
    if (options.schema) await ds.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(options.schema)}`);
    await ds.runMigrations({ transaction: 'each' });
  });
}

/** Opens the session database named by the options and brings its schema up to date. */
export async function createSessionDataSource(
  options: ResolvedSessionOptions,
  logger = new Logger('SessionDataSource'),
): Promise<SessionDataSource> {
  const where = describeSessionDb(options.target);
  const ds = new SessionDataSource(dataSourceOptions(options));
  const safe = (e: unknown) =>
    redactSecrets(e instanceof Error ? e.message : String(e), [
      options.target.kind === 'postgres' ? urlPassword(options.target.url) : undefined,
    ]);
  try {
    if (options.target.kind === 'sqlite' && options.target.database !== ':memory:') {
      ensureDirectory(path.dirname(options.target.database));
      restrictSqliteFiles(options.target.database);
    }
    await ds.initialize();
  } catch (e) {
    throw new SessionDbUnavailableError(`Cannot open session database (${where}): ${safe(e)}`);
  }
  try {
    if (options.target.kind === 'postgres') await migratePostgres(ds, options);
    else await migrateSqlite(ds);
  } catch (e) {
    await ds.destroy().catch(() => undefined);
    throw new SessionDbUnavailableError(`Cannot migrate session database (${where}): ${safe(e)}`);
  }
  const { target } = options;
  if (target.kind === 'sqlite' && target.database !== ':memory:') {
    ds.startWalCheckpointer(target.database);
  }
  logger.log(`Session store ready: ${where}, table ${options.tableName}`);
  return ds;
}

/** The cipher of the configured encryption keys; none without keys. */
function sessionCipher(options: ResolvedSessionOptions): SessionCipher | undefined {
  return options.encryptionKeys.length > 0 ? new SessionCipher(options.encryptionKeys) : undefined;
}

/** The express-session store over an opened DataSource, configured from the options. */
export function createSessionStore(
  dataSource: DataSource,
  options: ResolvedSessionOptions,
): SessionStoreBackend {
  return new SessionStoreBackend(dataSource, {
    ref: sessionTableRef(options),
    ttlMs: options.ttlMs,
    maxLifetimeMs: options.maxLifetimeMs,
    loginTtlMs: options.loginTtlMs,
    touchAfterMs: options.touchAfterMs,
    maxDataBytes: options.maxDataBytes,
    cipher: sessionCipher(options),
    busyTimeoutMs: options.busyTimeoutMs,
    statements: options.statements,
  });
}

/** The revocation records kept beside the session table of the options. */
export function createSessionRevocations(
  dataSource: DataSource,
  options: ResolvedSessionOptions,
): SessionRevocations {
  return new SessionRevocations(dataSource, sessionTableRef(options), {
    cipher: sessionCipher(options),
    busyTimeoutMs: options.busyTimeoutMs,
    statements: options.statements,
  });
}
