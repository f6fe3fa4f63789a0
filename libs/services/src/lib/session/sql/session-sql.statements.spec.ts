import type { DataSource } from 'typeorm';
import { createTestSessionDb, openTestStore, sessionFixture, TestSessionDb } from '@bodhi/testing';
import { SESSION_DB_STATEMENT_MODES } from '../../settings/setting.constants.js';
import type { SessionStoreBackend } from '../store/session-store.backend.js';
import { SessionStoreUnavailableError } from '../session.errors.js';

/** The store's named statements as the one pooled connection holds them. */
async function preparedStatements(dataSource: DataSource): Promise<string[]> {
  const rows: { name: string }[] = await dataSource.query(
    `SELECT name FROM pg_prepared_statements WHERE name LIKE 'bodhi\\_%'`,
  );
  return rows.map((r) => r.name);
}

/**
 * BODHI_SESSION_DB_STATEMENTS on the real PostgreSQL: named statements are prepared on the
 * connection; unnamed ones leave nothing behind on it, which is what lets any pooler hand
 * the next query to another server connection.
 */
describe('PostgreSQL statement modes', () => {
  let db: TestSessionDb;

  beforeAll(async () => {
    db = await createTestSessionDb('postgres');
  });
  afterAll(() => db?.drop());

  const open = (statements: (typeof SESSION_DB_STATEMENT_MODES)[number]) =>
    // One connection: the statements the store prepared are on the one the check reads.
    openTestStore(db, { statements, poolSize: 1 });

  const useStore = async (store: SessionStoreBackend) => {
    await store.saveSession('sid-statements', sessionFixture(60_000, { user_id: 'u1' }));
    expect(await store.findSession('sid-statements')).toMatchObject({ user_id: 'u1' });
    await store.destroySession('sid-statements');
  };

  it('named: each statement is prepared once on its connection', async () => {
    const { dataSource, store } = await open('named');
    try {
      await useStore(store);
      expect((await preparedStatements(dataSource)).length).toBeGreaterThanOrEqual(3);
    } finally {
      await dataSource.destroy();
    }
  });

  it('unnamed: no statement stays prepared on the connection', async () => {
    const { dataSource, store } = await open('unnamed');
    try {
      await useStore(store);
      expect(await preparedStatements(dataSource)).toEqual([]);
    } finally {
      await dataSource.destroy();
    }
  });

  it('named statements a pooler lost name the setting that fixes it', async () => {
    const { dataSource, store } = await open('named');
    try {
      await store.findSession('sid-lost');
      // What a transaction pooler does: the next query lands where the statement is unknown.
      await dataSource.query('DEALLOCATE ALL');
      await dataSource.query(`SELECT 1`);
      // pg remembers it prepared the statement on this connection and only binds it now.
      const failure = await store.findSession('sid-lost').catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(SessionStoreUnavailableError);
      expect((failure as Error).message).toContain('BODHI_SESSION_DB_STATEMENTS=unnamed');
    } finally {
      await dataSource.destroy();
    }
  });
});
