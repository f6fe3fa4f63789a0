import type { MigrationInterface, QueryRunner } from 'typeorm';
import type { MigrationClass, MigrationContext } from './migration-context.js';

/** The migration that re-keys rows by the hash of their id (v4). */
export const REKEY_MIGRATION = 'HashSessionIds1764547200001';

/**
 * v4: rows are keyed by the SHA-256 of the session id, never the id itself, so a copy of
 * the database holds no cookie value. Re-keys rows of earlier releases in place, the
 * dialect's way (SQLite in one statement, PostgreSQL in bounded batches); a row already
 * keyed by a hash is never touched again, so a repeated run changes nothing. On both, it
 * runs inside the one transaction of the boot's migrations (under the migration lock on
 * PostgreSQL, see runPostgresMigrations): a big table is re-keyed in one transaction, which
 * is what a transaction pooler needs (the lock and the work on one server connection) and a
 * one-time upgrade can afford; an interrupted run leaves the table as it was, and the next
 * boot starts it again.
 */
export function hashSessionIds({ ref, dialect }: MigrationContext): MigrationClass {
  return class HashSessionIds1764547200001 implements MigrationInterface {
    name = REKEY_MIGRATION;

    async up(q: QueryRunner): Promise<void> {
      await dialect.migrationSteps.rekeySessionIds(q, ref);
    }

    async down(): Promise<void> {
      // A hash cannot be turned back into the session id; older releases will not find these
      // sessions, whose users log in again.
    }
  };
}
