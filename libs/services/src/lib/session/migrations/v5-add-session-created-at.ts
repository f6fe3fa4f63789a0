import type { MigrationInterface, QueryRunner } from 'typeorm';
import type { MigrationClass, MigrationContext } from './migration-context.js';

/**
 * v5: when each session was created, so that it ends a maximum lifetime after that however
 * active it is. Rows of earlier releases keep NULL: the first write after the upgrade
 * stamps its own time (their lifetime counts from then), as no creation time was kept.
 */
export function addSessionCreatedAt({ ref, table: t, dialect }: MigrationContext): MigrationClass {
  return class AddSessionCreatedAt1765152000000 implements MigrationInterface {
    name = 'AddSessionCreatedAt1765152000000';

    async up(q: QueryRunner): Promise<void> {
      await dialect.migrationSteps.addColumn(q, ref, 'created_at', dialect.sql.types.bigint);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE ${t} DROP COLUMN created_at`);
    }
  };
}
