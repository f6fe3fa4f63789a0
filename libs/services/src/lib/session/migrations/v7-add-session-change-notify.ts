import type { MigrationInterface, QueryRunner } from 'typeorm';
import type { MigrationClass, MigrationContext } from './migration-context.js';

/**
 * v7: triggers that announce every change of a session and of a user's revocation on the
 * table's channel, for the instances' session caches (cluster/). Installed whether or not
 * this instance caches: an instance with the cache off still writes what the others cache.
 * A dialect without instances to tell (SQLite) has none, and the migration is recorded all
 * the same.
 */
export function addSessionChangeNotify({ ref, dialect }: MigrationContext): MigrationClass {
  const triggers = dialect.migrationSteps.changeNotifyTriggers?.(ref);
  return class AddSessionChangeNotify1766016000000 implements MigrationInterface {
    name = 'AddSessionChangeNotify1766016000000';

    async up(q: QueryRunner): Promise<void> {
      for (const statement of triggers?.install ?? []) await q.query(statement);
    }

    async down(q: QueryRunner): Promise<void> {
      for (const statement of triggers?.drop ?? []) await q.query(statement);
    }
  };
}
