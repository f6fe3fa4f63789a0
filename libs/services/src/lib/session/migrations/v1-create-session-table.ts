import type { MigrationInterface, QueryRunner } from 'typeorm';
import type { MigrationClass, MigrationContext } from './migration-context.js';

/** v1: the table as the first release shipped it (no user_id). */
export function createSessionTable({ table: t, index, dialect }: MigrationContext): MigrationClass {
  const { text, bigint } = dialect.sql.types;
  return class CreateSessionTable1763856000000 implements MigrationInterface {
    name = 'CreateSessionTable1763856000000';

    async up(q: QueryRunner): Promise<void> {
      await q.query(
        `CREATE TABLE IF NOT EXISTS ${t} (id ${text} PRIMARY KEY NOT NULL, data ${text} NOT NULL, expires_at ${bigint} NOT NULL)`,
      );
      await q.query(`CREATE INDEX IF NOT EXISTS ${index('expires_at')} ON ${t} (expires_at)`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP TABLE IF EXISTS ${t}`);
    }
  };
}
