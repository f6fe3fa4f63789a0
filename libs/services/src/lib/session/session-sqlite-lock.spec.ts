import {
  createTestSessionDb,
  openTestStore,
  sessionFixture,
  SqliteLockHolder,
  TestSessionDb,
} from '@bodhi/testing';
import type { DataSource } from 'typeorm';
import { sqliteHandle } from './session-sql.executor.js';
import { SessionStoreUnavailableError } from './session.errors.js';

const HOUR = 3_600_000;

/** Whether a promise has settled yet, read without waiting for it. */
function tracked<T>(work: Promise<T>) {
  const state = { settled: false, work };
  work.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

/**
 * Another process holds the SQLite file's write lock (BEGIN IMMEDIATE: a backup, the admin
 * CLI, a second server). better-sqlite3 is synchronous, so a store statement that waited for
 * the lock inside SQLite would stop the event loop; it retries on a timer instead, gives up
 * after busyTimeoutMs, and reads (WAL) go on meanwhile.
 */
describe('SQLite store while another process holds the write lock', () => {
  let db: TestSessionDb;
  let file: string;
  let dataSource: DataSource | undefined;
  let holder: SqliteLockHolder | undefined;

  beforeEach(async () => {
    db = await createTestSessionDb('sqlite');
    file = db.url.slice('sqlite:'.length);
  });
  afterEach(async () => {
    await holder?.release();
    holder = undefined;
    await dataSource?.destroy();
    dataSource = undefined;
    await db.drop();
  });

  const open = async (busyTimeoutMs: number) => {
    const opened = await openTestStore(db, { busyTimeoutMs });
    dataSource = opened.dataSource;
    return opened;
  };

  it('waits for the lock with the event loop free: reads answer meanwhile, the write lands on release', async () => {
    // A budget far beyond the test's run: only the release ends the wait.
    const { store, revocations } = await open(600_000);
    await store.saveSession('before', sessionFixture(HOUR, { user_id: 'u1' }));

    holder = await SqliteLockHolder.hold(file);
    const write = tracked(store.saveSession('during', sessionFixture(HOUR, { user_id: 'u2' })));
    const revoke = tracked(revocations.revokeUser('u1'));

    // The event loop turns and a read of the store answers while both writes wait.
    await new Promise((resolve) => setImmediate(resolve));
    expect(await store.findSession('before')).toMatchObject({ user_id: 'u1' });
    expect(await revocations.tokenState('u1', 'jti')).toEqual({
      notBefore: undefined,
      revoked: false,
    });
    expect(write.settled).toBe(false);
    expect(revoke.settled).toBe(false);

    await holder.release();
    await expect(write.work).resolves.toBe(true);
    await expect(revoke.work).resolves.toBeUndefined();
    expect(await store.findSession('during')).toMatchObject({ user_id: 'u2' });
    expect((await revocations.tokenState('u1', 'jti')).notBefore).toEqual(expect.any(Number));
  });

  it('gives up with SessionStoreUnavailableError once busyTimeoutMs has passed, and writes again after', async () => {
    const { store } = await open(200);
    holder = await SqliteLockHolder.hold(file);
    const error = await store
      .saveSession('locked-out', sessionFixture(HOUR))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionStoreUnavailableError);
    expect((error as Error).message).toMatch(/database is locked \(still locked after 200 ms\)/);

    await holder.release();
    await expect(store.saveSession('locked-out', sessionFixture(HOUR))).resolves.toBe(true);
  });

  it('never retries other errors: a missing table fails at once, whatever the budget', async () => {
    const { store } = await open(600_000);
    await db.query(`DROP TABLE ${db.qualifiedTable}`);
    await expect(store.saveSession('sid', sessionFixture(HOUR))).rejects.toThrow(
      /session store unavailable: .*no such table/,
    );
  });

  it('does not retry a statement inside an explicit transaction: its owner must retry the whole', async () => {
    const { store, dataSource } = await open(600_000);
    holder = await SqliteLockHolder.hold(file);
    const handle = sqliteHandle(dataSource);
    handle.exec('BEGIN');
    try {
      await expect(store.saveSession('sid', sessionFixture(HOUR))).rejects.toThrow(
        /database is locked$/,
      );
    } finally {
      handle.exec('ROLLBACK');
    }
  });
});
