import { DEFAULT_SESSION_DB_STATEMENTS } from '../../../settings/setting.constants.js';
import { runPostgresMigrations } from './postgres-migrate.js';
import { isLockNotAvailable, withTransactionLock } from './transaction-lock.js';
import { onRunnerConnection, pgPool } from './pinned-connection.js';
import { PostgresExecutor } from './postgres.executor.js';
import { postgresMigrationSteps } from './postgres-migration-steps.js';
import type { SessionDialect } from '../session-dialect.js';

/**
 * PostgreSQL, shared by every instance of a cluster, directly or through a transaction
 * pooler: nothing here keeps state on a connection between transactions (locks are
 * transaction-scoped; statements are unnamed where the pooler cannot carry named ones).
 */
export const postgresDialect: SessionDialect = {
  sql: {
    param: (n) => `$${n}`,
    least: 'LEAST',
    batchKey: 'id',
    hasSchemas: true,
    types: { bigint: 'bigint', text: 'text', serialKey: 'bigserial PRIMARY KEY' },
  },
  migrationSteps: postgresMigrationSteps,
  driverOptions(options, target) {
    if (target.kind !== 'postgres') throw new Error('the PostgreSQL dialect opens PostgreSQL URLs');
    return {
      type: 'postgres',
      url: target.url,
      schema: options.schema,
      applicationName: 'bodhi-session',
      extra: { max: options.poolSize, connectionTimeoutMillis: 10_000 },
    };
  },
  migrate: runPostgresMigrations,
  poolCounts(dataSource) {
    const pool = pgPool(dataSource);
    return () => ({
      inUse: pool.totalCount - pool.idleCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    });
  },
  executor: (dataSource, { statements = DEFAULT_SESSION_DB_STATEMENTS }) =>
    new PostgresExecutor(pgPool(dataSource), statements),
  async crossProcessLock(dataSource, key, wait, work, { onLockConnection }) {
    const afterCommit: (() => Promise<void>)[] = [];
    const outcome = await withTransactionLock(dataSource, key, wait, (runner) =>
      onLockConnection ? onRunnerConnection(dataSource, runner, work, afterCommit) : work(),
    );
    // Reached only when the transaction committed (a failed work or COMMIT throws).
    for (const task of afterCommit) await task();
    return outcome;
  },
  lockFailureKind: (e) => (isLockNotAvailable(e) ? 'lock_timeout' : 'unavailable'),
};
