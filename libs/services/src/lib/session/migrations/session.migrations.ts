import type { MigrationInterface, QueryRunner } from 'typeorm';
import { companionTable, qualifiedTable, quoteIdent, SessionTableRef } from '../sql/session-sql.js';
import { sqliteHandle } from '../sql/session-sql.executor.js';
import { SQL_DIALECTS } from '../dialects/sql-dialect.js';
import { pgSessionKey, SESSION_KEY_PATTERN, sessionKey } from '../store/session-key.js';
import {
  dropInvalidationTriggerSql,
  invalidationTriggerSql,
} from '../cluster/session-invalidation.js';

/** The migration that re-keys rows by the hash of their id (v4). */
export const REKEY_MIGRATION = 'HashSessionIds1764547200001';

/**
 * Rows one statement of the re-key migration changes (PostgreSQL): each statement stays
 * bounded, though all of them commit together with the other migrations.
 */
export const REKEY_BATCH_SIZE = 1000;

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
  const dialect = SQL_DIALECTS[ref.kind];
  const { types } = dialect;
  // The re-key (v4) is written per backend: SQLite calls a JS function, PostgreSQL batches.
  const pg = ref.kind === 'postgres';
  /** Adds a column unless it is there (a table upgraded in place, or a racing process). */
  const addColumn = async (q: QueryRunner, column: string, type: string) => {
    if (dialect.addColumnIfNotExists) {
      await q.query(`ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS ${column} ${type}`);
      return;
    }
    // SQLite has no ADD COLUMN IF NOT EXISTS.
    const columns: { name: string }[] = await q.query(
      `PRAGMA table_info(${quoteIdent(ref.table)})`,
    );
    if (!columns.some((c) => c.name === column)) {
      await q.query(`ALTER TABLE ${t} ADD COLUMN ${column} ${type}`);
    }
  };

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
      await addColumn(q, 'user_id', types.text);
      await q.query(`CREATE INDEX IF NOT EXISTS ${index('user_id')} ON ${t} (user_id)`);
    }

    async down(q: QueryRunner): Promise<void> {
      const qualifiedIndex =
        dialect.hasSchemas && ref.schema
          ? `${quoteIdent(ref.schema)}.${index('user_id')}`
          : index('user_id');
      await q.query(`DROP INDEX IF EXISTS ${qualifiedIndex}`);
      await q.query(`ALTER TABLE ${t} DROP COLUMN user_id`);
    }
  }

  /** v3: what revocation keeps beside the sessions (see COMPANION_TABLES). */
  class AddRevocationTables1764547200000 implements MigrationInterface {
    name = 'AddRevocationTables1764547200000';

    async up(q: QueryRunner): Promise<void> {
      const ur = qualifiedTable(companionTable(ref, 'userRevocations'));
      const rt = companionTable(ref, 'revokedTokens');
      const rq = qualifiedTable(companionTable(ref, 'revocationQueue'));
      const { bigint } = types;
      await q.query(
        `CREATE TABLE IF NOT EXISTS ${ur} (user_id text PRIMARY KEY NOT NULL, not_before ${bigint} NOT NULL)`,
      );
      await q.query(
        `CREATE TABLE IF NOT EXISTS ${qualifiedTable(rt)} (jti text PRIMARY KEY NOT NULL, expires_at ${bigint} NOT NULL)`,
      );
      await q.query(
        `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${rt.table}_expires_at_idx`)} ON ${qualifiedTable(rt)} (expires_at)`,
      );
      await q.query(
        `CREATE TABLE IF NOT EXISTS ${rq} (` +
          `id ${types.serialKey}, ` +
          `kind text NOT NULL, subject text NOT NULL, attempts integer NOT NULL, ` +
          `next_attempt_at ${bigint} NOT NULL, give_up_at ${bigint} NOT NULL)`,
      );
    }

    async down(q: QueryRunner): Promise<void> {
      for (const companion of ['revocationQueue', 'revokedTokens', 'userRevocations'] as const) {
        await q.query(`DROP TABLE IF EXISTS ${qualifiedTable(companionTable(ref, companion))}`);
      }
    }
  }

  /**
   * v4: rows are keyed by the SHA-256 of the session id, never the id itself, so a copy of
   * the database holds no cookie value. Re-keys rows of earlier releases in place; a row
   * already keyed by a hash is never touched again, so a repeated run changes nothing.
   * SQLite re-keys in one statement (the file is local: a million rows take seconds).
   * PostgreSQL re-keys in bounded batches, walking the primary key forward so no batch scans
   * rows an earlier one passed. On both, it runs inside the one transaction of the boot's
   * migrations (under the migration lock on PostgreSQL, see runPostgresMigrations): a big
   * table is re-keyed in one transaction, which is what a transaction pooler needs (the lock
   * and the work on one server connection) and a one-time upgrade can afford; an interrupted
   * run leaves the table as it was, and the next boot starts it again.
   */
  class HashSessionIds1764547200001 implements MigrationInterface {
    name = REKEY_MIGRATION;

    async up(q: QueryRunner): Promise<void> {
      if (!pg) {
        const db = sqliteHandle(q.connection);
        const isKey = new RegExp(SESSION_KEY_PATTERN);
        db.function('bodhi_session_key', { deterministic: true }, (id) => sessionKey(String(id)));
        db.function('bodhi_is_session_key', { deterministic: true }, (id) =>
          isKey.test(String(id)) ? 1 : 0,
        );
        await q.query(
          `UPDATE ${t} SET id = bodhi_session_key(id) WHERE NOT bodhi_is_session_key(id)`,
        );
        return;
      }
      // `after` is compared, ordered and maximised in the column's own collation, in SQL.
      let after = '';
      for (;;) {
        const [batch] = (await q.query(
          `WITH batch AS (SELECT id FROM ${t} WHERE id > $1 AND id !~ '${SESSION_KEY_PATTERN}' ` +
            `ORDER BY id LIMIT ${REKEY_BATCH_SIZE}), ` +
            `rekeyed AS (UPDATE ${t} SET id = ${pgSessionKey(`${t}.id`)} ` +
            `FROM batch WHERE ${t}.id = batch.id RETURNING 1) ` +
            // The batch's own size decides when to stop: a row deleted meanwhile (an
            // instance of the previous release logging out) is not re-keyed, yet more may
            // follow. (A data-modifying WITH runs whether or not the query reads it.)
            'SELECT (SELECT count(*) FROM batch) AS n, (SELECT max(id) FROM batch) AS last',
          [after],
        )) as { n: string; last: string | null }[];
        if (Number(batch.n) < REKEY_BATCH_SIZE || batch.last === null) return;
        after = batch.last;
      }
    }

    async down(): Promise<void> {
      // A hash cannot be turned back into the session id; older releases will not find these
      // sessions, whose users log in again.
    }
  }

  /**
   * v5: when each session was created, so that it ends a maximum lifetime after that however
   * active it is. Rows of earlier releases keep NULL: the first write after the upgrade
   * stamps its own time (their lifetime counts from then), as no creation time was kept.
   */
  class AddSessionCreatedAt1765152000000 implements MigrationInterface {
    name = 'AddSessionCreatedAt1765152000000';

    async up(q: QueryRunner): Promise<void> {
      await addColumn(q, 'created_at', types.bigint);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE ${t} DROP COLUMN created_at`);
    }
  }

  /**
   * v6: what a user's list of their sessions shows of each, in columns saves copy from the
   * data: when it was last seen (moved with the expiry), its user agent and client address.
   * Rows of earlier releases keep NULL until their next write.
   */
  class AddSessionDevice1765238400000 implements MigrationInterface {
    name = 'AddSessionDevice1765238400000';

    async up(q: QueryRunner): Promise<void> {
      await addColumn(q, 'last_seen_at', types.bigint);
      await addColumn(q, 'user_agent', types.text);
      await addColumn(q, 'client_address', types.text);
    }

    async down(q: QueryRunner): Promise<void> {
      for (const column of ['client_address', 'user_agent', 'last_seen_at']) {
        await q.query(`ALTER TABLE ${t} DROP COLUMN ${column}`);
      }
    }
  }

  /**
   * v7 (PostgreSQL): triggers that announce every change of a session and of a user's
   * revocation on the table's channel, for the instances' session caches (see
   * session-invalidation.ts). Installed whether or not this instance caches: an instance
   * with the cache off still writes what the others cache. SQLite has no instances to tell.
   */
  class AddSessionChangeNotify1766016000000 implements MigrationInterface {
    name = 'AddSessionChangeNotify1766016000000';

    async up(q: QueryRunner): Promise<void> {
      if (!pg) return;
      for (const statement of invalidationTriggerSql(ref)) await q.query(statement);
    }

    async down(q: QueryRunner): Promise<void> {
      if (!pg) return;
      for (const statement of dropInvalidationTriggerSql(ref)) await q.query(statement);
    }
  }

  return [
    CreateSessionTable1763856000000,
    AddSessionUserId1763856000001,
    AddRevocationTables1764547200000,
    HashSessionIds1764547200001,
    AddSessionCreatedAt1765152000000,
    AddSessionDevice1765238400000,
    AddSessionChangeNotify1766016000000,
  ];
}

/** Each session table keeps its own migration history, so tables sharing a schema never collide. */
export function migrationsTableName(table: string): string {
  return `${table}_migrations`;
}
