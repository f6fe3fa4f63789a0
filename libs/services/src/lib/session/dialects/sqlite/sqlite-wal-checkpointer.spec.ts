import { jest } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createTestSessionDb, openTestStore, sessionFixture, until } from '@bodhi/testing';
import type { TestSessionDb } from '@bodhi/testing';
import { sqliteHandle } from './sqlite-handle.js';
import { SQLITE_WAL_BACKSTOP_PAGES, SqliteWalCheckpointer } from './sqlite-wal-checkpointer.js';

const fileOf = (db: TestSessionDb) => db.url.slice('sqlite:'.length);
const sizeOf = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0);

describe('SqliteWalCheckpointer (a SQLite file session store)', () => {
  let db: TestSessionDb;

  beforeEach(async () => {
    db = await createTestSessionDb('sqlite');
  });
  afterEach(() => db.drop());

  it('copies committed writes into the database file while the request thread only appends to the WAL', async () => {
    const { dataSource, store } = await openTestStore(db, { pruneIntervalSeconds: 0 });
    try {
      const handle = sqliteHandle(dataSource);
      // The request thread leaves checkpoints to the worker up to the backstop.
      expect(handle.pragma('wal_autocheckpoint', { simple: true })).toBe(SQLITE_WAL_BACKSTOP_PAGES);
      const file = fileOf(db);
      const before = sizeOf(file);
      // ~1 MB of sessions: a few hundred WAL frames, far below the backstop, so only the
      // worker can have moved them into the database file.
      const token = 'x'.repeat(2000);
      for (let i = 0; i < 500; i++) {
        await store.saveSession(`s${i}`, sessionFixture(60_000, { access_token: token }));
      }
      await until(() => sizeOf(file) > before + 500 * 2000);
      expect(await store.countSessions()).toBe(500);
    } finally {
      await dataSource.destroy();
    }
  });

  it('closes its connection before the DataSource closes, so the last close removes the WAL', async () => {
    const { dataSource, store } = await openTestStore(db, { pruneIntervalSeconds: 0 });
    await store.saveSession('kept', sessionFixture(60_000));
    const wal = `${fileOf(db)}-wal`;
    expect(fs.existsSync(wal)).toBe(true);
    await dataSource.destroy();
    // SQLite deletes the WAL only when the last connection to the file closes.
    expect(fs.existsSync(wal)).toBe(false);
    // And nothing was lost on the way.
    const reopened = await openTestStore(db, { pruneIntervalSeconds: 0 });
    try {
      expect(await reopened.store.findSession('kept')).not.toBeNull();
    } finally {
      await reopened.dataSource.destroy();
    }
  });

  it('reports a worker that cannot run, once, and stops cleanly', async () => {
    const missing = path.join(os.tmpdir(), `bodhi-no-such-dir-${process.pid}`, 'x.sqlite');
    const onFailure = jest.fn();
    const warn = jest.fn();
    const checkpointer = SqliteWalCheckpointer.start(missing, onFailure, { warn } as never);
    await until(() => onFailure.mock.calls.length > 0);
    // Nobody waits forever on a worker that is gone.
    await checkpointer.drain();
    await checkpointer.stop();
    await checkpointer.drain();
    expect(onFailure).toHaveBeenCalledTimes(1);
    expect(String(onFailure.mock.calls[0][0])).toMatch(/unable to open|does not exist/i);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('starts no worker for an in-memory database (it has no WAL)', async () => {
    const start = jest.spyOn(SqliteWalCheckpointer, 'start');
    const { dataSource, store } = await openTestStore(
      { ...db, url: 'sqlite::memory:' },
      { pruneIntervalSeconds: 0 },
    );
    try {
      expect(sqliteHandle(dataSource).pragma('journal_mode', { simple: true })).toBe('memory');
      await store.saveSession('m', sessionFixture(60_000));
      expect(await store.findSession('m')).not.toBeNull();
      expect(start).not.toHaveBeenCalled();
    } finally {
      start.mockRestore();
      await dataSource.destroy();
    }
  });
});
