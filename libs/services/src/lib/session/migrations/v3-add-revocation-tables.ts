import type { MigrationInterface, QueryRunner } from 'typeorm';
import { companionTable, qualifiedTable, quoteIdent } from '../sql/session-sql.js';
import { indexName } from '../sql/table-names.js';
import type { MigrationClass, MigrationContext } from './migration-context.js';

/** v3: what revocation keeps beside the sessions (see COMPANION_TABLES). */
export function addRevocationTables({ ref, dialect }: MigrationContext): MigrationClass {
  const { bigint, serialKey } = dialect.sql.types;
  return class AddRevocationTables1764547200000 implements MigrationInterface {
    name = 'AddRevocationTables1764547200000';

    async up(q: QueryRunner): Promise<void> {
      const ur = qualifiedTable(companionTable(ref, 'userRevocations'));
      const rt = companionTable(ref, 'revokedTokens');
      const rq = qualifiedTable(companionTable(ref, 'revocationQueue'));
      await q.query(
        `CREATE TABLE IF NOT EXISTS ${ur} (user_id text PRIMARY KEY NOT NULL, not_before ${bigint} NOT NULL)`,
      );
      await q.query(
        `CREATE TABLE IF NOT EXISTS ${qualifiedTable(rt)} (jti text PRIMARY KEY NOT NULL, expires_at ${bigint} NOT NULL)`,
      );
      await q.query(
        `CREATE INDEX IF NOT EXISTS ${quoteIdent(indexName(rt.table, 'expires_at'))} ON ${qualifiedTable(rt)} (expires_at)`,
      );
      await q.query(
        `CREATE TABLE IF NOT EXISTS ${rq} (` +
          `id ${serialKey}, ` +
          `kind text NOT NULL, subject text NOT NULL, attempts integer NOT NULL, ` +
          `next_attempt_at ${bigint} NOT NULL, give_up_at ${bigint} NOT NULL)`,
      );
    }

    async down(q: QueryRunner): Promise<void> {
      for (const companion of ['revocationQueue', 'revokedTokens', 'userRevocations'] as const) {
        await q.query(`DROP TABLE IF EXISTS ${qualifiedTable(companionTable(ref, companion))}`);
      }
    }
  };
}
