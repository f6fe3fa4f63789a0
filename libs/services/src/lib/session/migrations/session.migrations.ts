import type { MigrationInterface, QueryRunner } from 'typeorm';
import { qualifiedTable, quoteIdent, SessionTableRef } from '../session-sql.js';

type MigrationClass = new () => MigrationInterface;

/**
 * The versioned schema of the session table, for one table on one backend. The table name
 * is configurable, so migrations are built per table; every statement is idempotent
 * (`IF NOT EXISTS`) so a table made by an older release without a migrations record, or a
 * second process racing this one, finds its work already done rather than failing.
 */
export function sessionMigrations(ref: SessionTableRef): MigrationClass[] {
  const t = qualifiedTable(ref);
  const index = (column: string) => quoteIdent(`${ref.table}_${column}_idx`);
  const pg = ref.kind === 'postgres';

  /** v1: the table as the first release shipped it (no user_id). */
  class CreateSessionTable1763856000000 implements MigrationInterface {
    name = 'CreateSessionTable1763856000000';

    async up(q: QueryRunner): Promise<void> {
      await q.query(
        pg
          ? `CREATE TABLE IF NOT EXISTS ${t} (id text PRIMARY KEY, data text NOT NULL, expires_at bigint NOT NULL)`
          : `CREATE TABLE IF NOT EXISTS ${t} (id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL, expires_at INTEGER NOT NULL)`,
      );
      await q.query(`CREATE INDEX IF NOT EXISTS ${index('expires_at')} ON ${t} (expires_at)`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP TABLE IF EXISTS ${t}`);
    }
  }

  /** v2: sessions know their user, so a user's sessions can be counted and cleared. */
  class AddSessionUserId1763856000001 implements MigrationInterface {
    name = 'AddSessionUserId1763856000001';

    async up(q: QueryRunner): Promise<void> {
      if (pg) {
        await q.query(`ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS user_id text`);
      } else {
        // SQLite has no ADD COLUMN IF NOT EXISTS.
        const columns: { name: string }[] = await q.query(
          `PRAGMA table_info(${quoteIdent(ref.table)})`,
        );
        if (!columns.some((c) => c.name === 'user_id')) {
          await q.query(`ALTER TABLE ${t} ADD COLUMN user_id TEXT`);
        }
      }
      await q.query(`CREATE INDEX IF NOT EXISTS ${index('user_id')} ON ${t} (user_id)`);
    }

    async down(q: QueryRunner): Promise<void> {
      const qualifiedIndex =
        pg && ref.schema ? `${quoteIdent(ref.schema)}.${index('user_id')}` : index('user_id');
      await q.query(`DROP INDEX IF EXISTS ${qualifiedIndex}`);
      await q.query(`ALTER TABLE ${t} DROP COLUMN user_id`);
    }
  }

  return [CreateSessionTable1763856000000, AddSessionUserId1763856000001];
}

/** Each session table keeps its own migration history, so tables sharing a schema never collide. */
export function migrationsTableName(table: string): string {
  return `${table}_migrations`;
}
