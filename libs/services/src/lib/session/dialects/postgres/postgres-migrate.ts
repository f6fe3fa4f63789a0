import { DataSource, MigrationExecutor, QueryRunner } from 'typeorm';
import type { ResolvedSessionOptions } from '../../config/session.options.js';
import { quoteIdent } from '../../sql/session-sql.js';
import { isLockNotAvailable, withTransactionLock } from './transaction-lock.js';
import { migrationLockKey } from '../../locks/lock-keys.js';

/**
 * How long a booting instance waits for another one's migrations before its boot fails (a
 * re-key of a large table takes seconds; a holder longer than this is stuck, not busy).
 */
export const PG_MIGRATION_LOCK_TIMEOUT_MS = 120_000;

/** How long one migration statement waits for a table lock before the boot fails. */
export const PG_MIGRATION_TABLE_LOCK_TIMEOUT_MS = 10_000;

const seconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

/**
 * Brings the session schema up to date in ONE transaction, under a transaction-scoped
 * advisory lock taken first in that same transaction: the schema, TypeORM's migrations table,
 * the migrations and their records all commit together, or not at all. A second instance
 * waits on the lock and then finds nothing pending; through a transaction pooler the whole
 * transaction stays on one server connection, so this holds there too. A wait past
 * `lockTimeoutMs` fails the boot with a clear error instead of hanging it.
 */
export async function runPostgresMigrations(
  ds: DataSource,
  options: ResolvedSessionOptions,
  lockTimeoutMs = PG_MIGRATION_LOCK_TIMEOUT_MS,
): Promise<void> {
  const outcome = await withTransactionLock(
    ds,
    migrationLockKey(options.schema, options.tableName),
    { timeoutMs: lockTimeoutMs },
    async (runner) => {
      // A table lock a migration needs (ALTER TABLE: ACCESS EXCLUSIVE) waits behind any
      // long transaction on the table (a backup), and every request queues behind that
      // wait: it fails the boot after a bounded wait instead. SET LOCAL: this transaction only.
      await runner.query(`SET LOCAL lock_timeout = '${PG_MIGRATION_TABLE_LOCK_TIMEOUT_MS}ms'`);
      try {
        await migrateOn(ds, runner, options);
      } catch (e) {
        if (!isLockNotAvailable(e)) throw e;
        throw new Error(
          `a migration waited ${seconds(PG_MIGRATION_TABLE_LOCK_TIMEOUT_MS)} for a lock on the ` +
            'session tables (a long transaction, such as a backup, holds them); nothing was changed',
        );
      }
    },
  );
  if (!outcome.acquired) {
    throw new Error(
      `another instance has held the migration lock for ${seconds(lockTimeoutMs)} ` +
        '(still migrating, or stuck in an open transaction)',
    );
  }
}

/** The migrations, inside the lock's transaction on its runner. */
async function migrateOn(
  ds: DataSource,
  runner: QueryRunner,
  options: ResolvedSessionOptions,
): Promise<void> {
  if (options.schema) {
    await runner.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(options.schema)}`);
  }
  // On the lock's runner: the executor creates its table, reads what ran and runs the
  // rest on it, and leaves the runner to us (it releases only runners it made). 'none':
  // the lock's transaction is already the one transaction around everything.
  const executor = new MigrationExecutor(ds, runner);
  executor.transaction = 'none';
  await executor.executePendingMigrations();
}
