import type { DataSource } from 'typeorm';
import {
  createTestSessionDb,
  openTestStore,
  SESSION_BACKENDS,
  sessionFixture,
  TestSessionDb,
} from '@bodhi/testing';

describe.each(SESSION_BACKENDS)('session table migrations on %s', (kind) => {
  let db: TestSessionDb;
  const opened: DataSource[] = [];
  const open = async () => {
    const result = await openTestStore(db);
    opened.push(result.dataSource);
    return result;
  };

  beforeEach(async () => {
    db = await createTestSessionDb(kind);
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((ds) => ds.isInitialized && ds.destroy()));
    await db.drop();
  });

  const columns = async (): Promise<string[]> =>
    kind === 'sqlite'
      ? (await db.query<{ name: string }>(`PRAGMA table_info("${db.table}")`)).map((c) => c.name)
      : (
          await db.query<{ column_name: string }>(
            'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
            [db.schema, db.table],
          )
        ).map((c) => c.column_name);
  const indexes = async (): Promise<string[]> =>
    kind === 'sqlite'
      ? (await db.query<{ name: string }>(`PRAGMA index_list("${db.table}")`))
          .map((i) => i.name)
          .sort()
      : (
          await db.query<{ indexname: string }>(
            'SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2',
            [db.schema, db.table],
          )
        )
          .map((i) => i.indexname)
          .sort();
  const migrationNames = async () =>
    (
      await db.query<{ name: string }>(
        `SELECT name FROM ${kind === 'postgres' ? `"${db.schema}".` : ''}"${db.table}_migrations" ORDER BY id`,
      )
    ).map((m) => m.name);

  it('creates the table, both indexes and records both migrations on a fresh database', async () => {
    await open();
    expect(await columns()).toEqual(['id', 'data', 'expires_at', 'user_id']);
    expect(await indexes()).toEqual(
      expect.arrayContaining([`${db.table}_expires_at_idx`, `${db.table}_user_id_idx`]),
    );
    expect(await migrationNames()).toEqual([
      'CreateSessionTable1763856000000',
      'AddSessionUserId1763856000001',
    ]);
  });

  it('runs again as a no-op and keeps the data', async () => {
    const first = await open();
    await first.store.saveSession('kept', sessionFixture(60_000, { user_id: 'u' }));
    await first.dataSource.destroy();
    const second = await open();
    expect(await second.store.findSession('kept')).toMatchObject({ user_id: 'u' });
    expect(await migrationNames()).toHaveLength(2);
  });

  it('upgrades a table made by an older release without user_id, in place', async () => {
    if (kind === 'postgres') await db.query(`CREATE SCHEMA "${db.schema}"`);
    await db.query(
      `CREATE TABLE ${db.qualifiedTable} (id text PRIMARY KEY, data text NOT NULL, expires_at bigint NOT NULL)`,
    );
    const old = sessionFixture(60_000, { user_id: 'legacy' });
    await db.query(`INSERT INTO ${db.qualifiedTable} (id, data, expires_at) VALUES ($1, $2, $3)`, [
      'old-sid',
      JSON.stringify(old),
      Date.now() + 60_000,
    ]);
    const { store } = await open();
    expect(await columns()).toContain('user_id');
    expect(await indexes()).toContain(`${db.table}_user_id_idx`);
    expect(await store.findSession('old-sid')).toMatchObject({ user_id: 'legacy' });
    // The next save of the old session fills its user_id.
    await store.saveSession('old-sid', old);
    expect(await store.idsForUser('legacy')).toEqual(['old-sid']);
  });

  it('lets two instances start at once on the same database', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    await a.store.saveSession('from-a', sessionFixture(60_000));
    expect(await b.store.findSession('from-a')).not.toBeNull();
    expect(await migrationNames()).toEqual([
      'CreateSessionTable1763856000000',
      'AddSessionUserId1763856000001',
    ]);
  });
});
