import pg from 'pg';
import { createTestSessionDb, TestSessionDb, testSessionOptions } from '@bodhi/testing';
import { createSessionDataSource } from '../store/session-data-source.factory.js';
import { resolveSessionOptions } from '../config/session.options.js';

/**
 * A migration step that needs a table lock another transaction holds (a backup's long read)
 * fails the boot after PG_MIGRATION_TABLE_LOCK_TIMEOUT_MS, saying so, and changes nothing;
 * without a bound its ALTER TABLE would wait for ever, and every request on the table would
 * queue behind it.
 */
describe('a PostgreSQL migration waiting for a table lock', () => {
  let db: TestSessionDb;
  const boot = () => createSessionDataSource(resolveSessionOptions(testSessionOptions(db)));

  beforeAll(async () => {
    db = await createTestSessionDb('postgres');
    await (await boot()).destroy();
    // The last migration pending again, as after an upgrade: its columns gone, its record too.
    for (const column of ['last_seen_at', 'user_agent', 'client_address'])
      await db.query(`ALTER TABLE ${db.qualifiedTable} DROP COLUMN ${column}`);
    await db.query(
      `DELETE FROM ${db.besideTable('migrations')} WHERE name LIKE 'AddSessionDevice%'`,
    );
  });
  afterAll(() => db?.drop());

  it('fails the boot with a clear error after the bound, and leaves the schema as it was', async () => {
    const backup = new pg.Client({ connectionString: db.url });
    await backup.connect();
    try {
      // What pg_dump holds for its whole run: ACCESS SHARE on the table.
      await backup.query('BEGIN');
      await backup.query(`SELECT count(*) FROM ${db.qualifiedTable}`);
      await expect(boot()).rejects.toThrow(
        /a migration waited 10 s for a lock on the session tables .*nothing was changed/,
      );
    } finally {
      await backup.query('ROLLBACK').catch(() => undefined);
      await backup.end();
    }
    const columns = await db.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`,
      [db.schema, db.table],
    );
    expect(columns.map((c) => c.column_name)).not.toContain('user_agent');
    // Once the long transaction is gone, the next boot migrates.
    await (await boot()).destroy();
  }, 60_000);
});
