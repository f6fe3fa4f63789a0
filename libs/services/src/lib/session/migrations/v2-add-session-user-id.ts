import type { MigrationInterface, QueryRunner } from 'typeorm';
import { quoteIdent } from '../sql/session-sql.js';
import type { MigrationClass, MigrationContext } from './migration-context.js';

/** v2: sessions know their user, so a user's sessions can be counted and cleared. */
export function addSessionUserId({
  ref,
  table: t,
  index,
  dialect,
}: MigrationContext): MigrationClass {
  return class AddSessionUserId1763856000001 implements MigrationInterface {
    name = 'AddSessionUserId1763856000001';

    async up(q: QueryRunner): Promise<void> {
      await dialect.migrationSteps.addColumn(q, ref, 'user_id', dialect.sql.types.text);
      await q.query(`CREATE INDEX IF NOT EXISTS ${index('user_id')} ON ${t} (user_id)`);
    }

    async down(q: QueryRunner): Promise<void> {
      const qualifiedIndex =
        dialect.sql.hasSchemas && ref.schema
          ? `${quoteIdent(ref.schema)}.${index('user_id')}`
          : index('user_id');
      await q.query(`DROP INDEX IF EXISTS ${qualifiedIndex}`);
      await q.query(`ALTER TABLE ${t} DROP COLUMN user_id`);
    }
  };
}
