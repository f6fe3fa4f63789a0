import type { DataSource, DataSourceOptions, QueryRunner } from 'typeorm';
import type { SessionDbTarget } from '../config/session-db-url.util.js';
import type { ResolvedSessionOptions } from '../config/session.options.js';
import type { SessionSqlExecutor, SqlExecutorOptions } from '../sql/session-sql.executor.js';
import type { SessionTableRef } from '../sql/session-sql.js';
import type { AdvisoryLockKey } from '../locks/lock-keys.js';
import type { PoolCounts } from '../../metrics/bodhi-metrics.js';
import type { SqlDialect } from './sql-dialect.js';
import type { StoreFailureKind } from '../session.errors.js';

/** The driver's part of a DataSource's options: which driver, where, how it opens. */
export type DriverOptions = Pick<DataSourceOptions, 'type'> & Record<string, unknown>;

/**
 * How long to wait for a lock another transaction holds: `'try'` not at all, `{ timeoutMs }`
 * until then. There is no wait without an end: a holder that never lets go must not hang
 * every waiter (a boot, a request) with it.
 */
export type TransactionLockWait = 'try' | { timeoutMs: number };

export type TransactionLockOutcome<T> = { acquired: true; value: T } | { acquired: false };

/**
 * What the migrations (migrations/) do differently on each backend; every other statement
 * of theirs is written once, in the dialect's spelling (`SessionDialect.sql`).
 */
export interface DialectMigrationSteps {
  /** Adds a column unless it is there (a table upgraded in place, or a racing process). */
  addColumn(q: QueryRunner, ref: SessionTableRef, column: string, type: string): Promise<void>;
  /** Re-keys the rows of earlier releases by the hash of their id (v4); a re-run changes nothing. */
  rekeySessionIds(q: QueryRunner, ref: SessionTableRef): Promise<void>;
  /**
   * The statements that install, and that drop, the triggers announcing every change of a
   * session and of a user's revocation to the other instances (v7); none where no other
   * instance listens (SQLite).
   */
  changeNotifyTriggers?(ref: SessionTableRef): { install: string[]; drop: string[] };
}

/**
 * Everything that differs between the session store's backends, in one object per backend
 * (postgres/postgres.dialect.ts, sqlite/sqlite.dialect.ts): the rest of the store is written
 * once against it, and asks it (a hook) rather than testing which backend it runs on.
 */
export interface SessionDialect {
  /** How the backend spells what the store's SQL needs (sql/session-sql.ts, the migrations). */
  sql: SqlDialect;
  /** What the migrations do the backend's own way. */
  migrationSteps: DialectMigrationSteps;
  /** The driver options of a DataSource on `target` (the serving or the migration URL). */
  driverOptions(options: ResolvedSessionOptions, target: SessionDbTarget): DriverOptions;
  /** What must hold before the database is opened. */
  beforeOpen?(options: ResolvedSessionOptions): void;
  /**
   * Brings the schema up to date, once however many processes boot at the same moment.
   * `lockTimeoutMs`: how long to wait for another process's migrations (the default of each).
   */
  migrate(
    dataSource: DataSource,
    options: ResolvedSessionOptions,
    lockTimeoutMs?: number,
  ): Promise<void>;
  /** What starts once the database is migrated, on the serving DataSource. */
  afterMigrate?(dataSource: DataSource, options: ResolvedSessionOptions): void;
  /** What must stop before the serving DataSource closes (what `afterMigrate` started). */
  beforeClose?(dataSource: DataSource): Promise<void>;
  /**
   * Called by the pruner after its `batch`th batch (from 1) when another follows: where the
   * backend needs a pause in a long stream of deletes.
   */
  afterPruneBatch?(dataSource: DataSource, batch: number): Promise<void>;
  /**
   * A reader of an opened DataSource's pool clients (for `BodhiMetrics.watchPool`), bound to
   * the pool itself: after the DataSource closes it reads the closed pool's zeros, never
   * throws in a scrape. Undefined without a pool (SQLite).
   */
  poolCounts?(dataSource: DataSource): () => PoolCounts;
  /** The executor of the store's statements on an opened DataSource. */
  executor(dataSource: DataSource, options: SqlExecutorOptions): SessionSqlExecutor;
  /**
   * Mutual exclusion across every process sharing the database, for work under `key`;
   * undefined where one process serves the database, so the in-process lock is the whole
   * lock (SQLite). `onLockConnection`: the store's statements in the work run on the lock's
   * own connection, inside its transaction, committing with it (a holder then needs no
   * second connection); else on the pool, each committing alone (a long prune in batches).
   */
  crossProcessLock?<T>(
    dataSource: DataSource,
    key: AdvisoryLockKey,
    wait: TransactionLockWait,
    work: () => Promise<T>,
    how: { onLockConnection: boolean },
  ): Promise<TransactionLockOutcome<T>>;
  /** With `crossProcessLock`: which store failure an error of the lock's statements is. */
  lockFailureKind?(e: unknown): StoreFailureKind;
}
