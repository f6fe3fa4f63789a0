import type { DataSource, DataSourceOptions } from 'typeorm';
import type { SessionDbTarget } from '../config/session-db-url.util.js';
import type { ResolvedSessionOptions } from '../config/session.options.js';
import type { SessionSqlExecutor, SqlExecutorOptions } from '../sql/session-sql.executor.js';
import type {
  AdvisoryLockKey,
  TransactionLockOutcome,
  TransactionLockWait,
} from './postgres/transaction-lock.js';
import type { PoolCounts } from '../../metrics/bodhi-metrics.js';

/** The driver's part of a DataSource's options: which driver, where, how it opens. */
export type DriverOptions = Pick<DataSourceOptions, 'type'> & Record<string, unknown>;

/**
 * Everything that differs between the session store's backends, in one object per backend
 * (postgres.dialect.ts, sqlite.dialect.ts): the rest of the store is written once against it.
 */
export interface SessionDialect {
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
  afterMigrate?(
    dataSource: DataSource & { startWalCheckpointer(file: string): void },
    options: ResolvedSessionOptions,
  ): void;
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
}
