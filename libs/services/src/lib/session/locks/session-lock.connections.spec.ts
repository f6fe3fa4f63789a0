import { createTestSessionDb, openTestStore, sessionFixture, TestSessionDb } from '@bodhi/testing';
import { SessionLock } from './session-lock.js';

/**
 * A lock holder needs one connection, not two: its work's statements run on the lock's own
 * connection. With more holders than connections (a PostgreSQL pool of 2 here; behind a
 * transaction pooler, its few server connections), holders that kept a connection for the
 * lock while their work waited for another would wait for each other until the pool's
 * connection timeout failed them all.
 */
describe('SessionLock holders and connections on postgres', () => {
  let db: TestSessionDb;

  beforeAll(async () => {
    db = await createTestSessionDb('postgres');
  });
  afterAll(() => db?.drop());

  it('more holders than pooled connections all do their work, which commits', async () => {
    const { dataSource, store } = await openTestStore(db, { poolSize: 2 });
    try {
      // Four holders at once on a pool of two: each reads and saves its session under the lock.
      const lock = new SessionLock({
        dataSource,
        kind: 'postgres',
        timeoutMs: 15_000,
        maxHolders: 4,
      });
      const sids = ['a', 'b', 'c', 'd'].map((s) => `holders-${s}-${process.pid}`);
      await Promise.all(
        sids.map((sid) =>
          lock.run(sid, async () => {
            await store.findSession(sid);
            await store.saveSession(sid, sessionFixture(60_000, { user_id: sid }));
          }),
        ),
      );
      // Saved through the lock's transaction, and committed with it: visible to everyone.
      const rows = await db.query<{ user_id: string }>(
        `SELECT user_id FROM ${db.qualifiedTable} WHERE user_id = ANY($1) ORDER BY user_id`,
        [sids],
      );
      expect(rows.map((r) => r.user_id)).toEqual([...sids].sort());
    } finally {
      await dataSource.destroy();
    }
  });
});
