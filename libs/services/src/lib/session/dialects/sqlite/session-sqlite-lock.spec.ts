import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import {
  createTestSessionDb,
  deferred,
  openTestStore,
  sessionFixture,
  SqliteLockHolder,
  TestSessionDb,
  tracked,
} from '@bodhi/testing';
import type { DataSource } from 'typeorm';
import { DEFAULT_SESSION_DB_BUSY_TIMEOUT_MS } from '../../../settings/setting.constants.js';
import { sessionKey } from '../../store/session-key.js';
import { sqliteHandle } from './sqlite-handle.js';
import { SessionStoreUnavailableError } from '../../session.errors.js';

const HOUR = 3_600_000;
/** A session id whose key, if it leaked into a log line, the test would find. */
const SID = 'sid-0f3c9a2e-lock-test';

/**
 * The debug lines logged from now on, and `logged(pattern)`: resolves at the first line that
 * matches, the executor's signal that a statement is waiting for the lock (or got through).
 * A promise, not a poll: it works under fake timers too.
 */
function debugLines() {
  const lines: string[] = [];
  const waiting: { pattern: RegExp; resolve: () => void }[] = [];
  jest.spyOn(Logger.prototype, 'debug').mockImplementation((message: unknown) => {
    lines.push(String(message));
    for (const w of waiting) if (w.pattern.test(String(message))) w.resolve();
  });
  const logged = (pattern: RegExp) => {
    const { promise, resolve } = deferred();
    waiting.push({ pattern, resolve });
    if (lines.some((line) => pattern.test(line))) resolve();
    return promise;
  };
  return { lines, logged };
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
    jest.useRealTimers();
    jest.restoreAllMocks();
    await holder?.release();
    holder = undefined;
    await dataSource?.destroy();
    dataSource = undefined;
    await db.drop();
  });

  /** The store on the file; `busyTimeoutMs` undefined: the default budget. */
  const open = async (busyTimeoutMs?: number) => {
    const opened = await openTestStore(db, { busyTimeoutMs });
    dataSource = opened.dataSource;
    return opened;
  };

  it('waits for the lock with the event loop free: reads answer meanwhile, the write lands on release', async () => {
    // A budget far beyond the test's run: only the release ends the wait.
    const { store, revocations } = await open(600_000);
    await store.saveSession('before', sessionFixture(HOUR, { user_id: 'u1' }));

    const { lines, logged } = debugLines();
    holder = await SqliteLockHolder.hold(file);
    const write = tracked(store.saveSession(SID, sessionFixture(HOUR, { user_id: 'u2' })));
    const revoke = tracked(revocations.revokeUser('u1'));

    // Once both say they wait for the lock, a read of the store answers while they do.
    await Promise.all([
      logged(/^INSERT \S*sessions\S* waits for the SQLite lock/),
      logged(/^INSERT \S*revocations\S* waits for the SQLite lock/),
    ]);
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
    expect(await store.findSession(SID)).toMatchObject({ user_id: 'u2' });
    expect((await revocations.tokenState('u1', 'jti')).notBefore).toEqual(expect.any(Number));
    await logged(/^INSERT \S*sessions\S* ran after waiting \d+ ms for the SQLite lock$/);
    // The lines name the statement, never its parameters: no session id or key, no user id.
    for (const line of lines) expect(line).not.toMatch(new RegExp(`${SID}|${sessionKey(SID)}|u2`));
  });

  it('gives up at the default budget (5 s), not before: retried on timers, here fake ones', async () => {
    const { store } = await open();
    const { lines, logged } = debugLines();
    holder = await SqliteLockHolder.hold(file);
    // The retry's delays and its clock are fake; the lock, the child and the I/O are real.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date'] });
    const write = tracked(store.saveSession(SID, sessionFixture(HOUR)));
    await logged(/waits for the SQLite lock .*up to 5000 ms/);

    await jest.advanceTimersByTimeAsync(DEFAULT_SESSION_DB_BUSY_TIMEOUT_MS - 1);
    expect(write.settled).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    const error = await write.work.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionStoreUnavailableError);
    expect((error as Error).message).toMatch(/database is locked \(still locked after 5000 ms\)/);
    expect(lines.at(-1)).toMatch(/^INSERT \S*sessions\S* gave up after waiting 5000 ms/);
    for (const line of lines) expect(line).not.toMatch(new RegExp(`${SID}|${sessionKey(SID)}`));
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
