import { AsyncLocalStorage } from 'node:async_hooks';
import type { Pool, PoolClient } from 'pg';
import type { DataSource, QueryRunner } from 'typeorm';

interface Pinned {
  pool: Pool;
  client: PoolClient;
  /** What must run once the lock's transaction has committed (`afterLockCommit`). */
  afterCommit: (() => Promise<void>)[];
}

/**
 * The connection the store's statements run on while the current async context holds a
 * lock's transaction: the lock's own. A lock holder then needs one server connection, not
 * two: through a transaction pooler, holders that each kept one connection while their work
 * waited for another could take every server connection and wait for each other until the
 * pooler gave up. The work's writes commit with the lock's transaction.
 */
const pinned = new AsyncLocalStorage<Pinned>();

/** A DataSource's pg pool (TypeORM's PostgresDriver keeps it as `master`). */
export const pgPool = (dataSource: DataSource): Pool =>
  (dataSource.driver as unknown as { master: Pool }).master;

/**
 * Runs `work` with the store's statements on `pool` sent to `runner`'s connection; what
 * the work asks to run after the commit (`afterLockCommit`) goes to `afterCommit`, for the
 * lock to run once its transaction has committed.
 */
export function onRunnerConnection<T>(
  dataSource: DataSource,
  runner: QueryRunner,
  work: () => Promise<T>,
  afterCommit: (() => Promise<void>)[],
): Promise<T> {
  // TypeORM's PostgresQueryRunner: the pg client it connected (its transaction's).
  const client = (runner as unknown as { databaseConnection: PoolClient }).databaseConnection;
  return pinned.run({ pool: pgPool(dataSource), client, afterCommit }, work);
}

/** Where a statement of `pool` runs now: the pinned connection of a lock holder, or the pool. */
export function connectionFor(pool: Pool): Pool | PoolClient {
  const current = pinned.getStore();
  return current?.pool === pool ? current.client : pool;
}

/** Whether the current async context holds a lock's transaction (its statements pinned). */
export function inLockTransaction(): boolean {
  return pinned.getStore() !== undefined;
}

/**
 * Runs `task` after the current lock's transaction has committed (not at all if it rolls
 * back), before the lock's holder gets its result; at once outside a lock's transaction.
 */
export async function afterLockCommit(task: () => Promise<void>): Promise<void> {
  const current = pinned.getStore();
  if (current) current.afterCommit.push(task);
  else await task();
}
