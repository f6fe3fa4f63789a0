import type { MigrationInterface, QueryRunner } from 'typeorm';
import type { MigrationClass, MigrationContext } from './migration-context.js';

/**
 * v6: what a user's list of their sessions shows of each, in columns saves copy from the
 * data: when it was last seen (moved with the expiry), its user agent and client address.
 * Rows of earlier releases keep NULL until their next write.
 */
export function addSessionDevice({ ref, table: t, dialect }: MigrationContext): MigrationClass {
  const { bigint, text } = dialect.sql.types;
  const { addColumn } = dialect.migrationSteps;
  return class AddSessionDevice1765238400000 implements MigrationInterface {
    name = 'AddSessionDevice1765238400000';

    async up(q: QueryRunner): Promise<void> {
      await addColumn(q, ref, 'last_seen_at', bigint);
      await addColumn(q, ref, 'user_agent', text);
      await addColumn(q, ref, 'client_address', text);
    }

    async down(q: QueryRunner): Promise<void> {
      for (const column of ['client_address', 'user_agent', 'last_seen_at']) {
        await q.query(`ALTER TABLE ${t} DROP COLUMN ${column}`);
      }
    }
  };
}
