import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import pg from 'pg';
import {
  createTestSessionDb,
  deferred,
  openTestStore,
  SESSION_BACKENDS,
  sessionFixture,
  TEST_PG_URL,
  TestSessionDb,
  until,
} from '@bodhi/testing';
import type { ResolvedSessionOptions } from '../config/session.options.js';
import { SessionPruner } from './session.pruner.js';
import type { SessionStoreBackend } from './session-store.backend.js';
import type { SessionRevocations } from '../../revocation/session-revocations.js';
import type { DataSource } from 'typeorm';
import * as fs from 'node:fs';
import { walCheckpointerOf } from '../dialects/sqlite/sqlite-wal-checkpointer.js';
import { advisoryLockRowsQuery } from '../dialects/postgres/transaction-lock.js';

describe.each(SESSION_BACKENDS)('SessionPruner on %s', (kind) => {
  let db: TestSessionDb;
  let dataSource: DataSource;
  let store: SessionStoreBackend;
  let options: ResolvedSessionOptions;
  let revocations: SessionRevocations;

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    ({ dataSource, store, options, revocations } = await openTestStore(db, {
      pruneBatchSize: 100,
    }));
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });
  beforeEach(() => store.clearSessions());

  /** Bulk-inserts rows straight into the table (expired when `inMs` < 0). */
  const insertRows = async (prefix: string, count: number, inMs: number) => {
    const expires = Date.now() + inMs;
    for (let i = 0; i < count; i += 100) {
      const chunk = Array.from(
        { length: Math.min(100, count - i) },
        (_, j) => `${prefix}-${i + j}`,
      );
      const values = chunk
        .map((_, j) => `($${j * 3 + 1}, $${j * 3 + 2}, $${j * 3 + 3})`)
        .join(', ');
      await db.query(
        `INSERT INTO ${db.qualifiedTable} (id, data, expires_at) VALUES ${values}`,
        chunk.flatMap((id) => [id, '{}', expires]),
      );
    }
  };

  it('removes only expired rows, in bounded batches', async () => {
    await insertRows('old', 250, -1000);
    await insertRows('live', 7, 60_000);
    const pruner = new SessionPruner(store, revocations, dataSource, options);
    const batch = jest.spyOn(store, 'pruneBatch');
    expect(await pruner.pruneOnce()).toBe(250);
    expect(batch.mock.calls.map(([size]) => size)).toEqual([100, 100, 100]);
    expect(await Promise.all(batch.mock.results.map((r) => r.value))).toEqual([100, 100, 50]);
    expect(await store.countSessions()).toBe(7);
    const left = await db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${db.qualifiedTable}`);
    expect(Number(left[0].n)).toBe(7);
    batch.mockRestore();
  });

  it('runs on its interval with an unref timer, logs a failed round and keeps going', async () => {
    // Fake interval timers: rounds happen when the test advances the clock, and "no round
    // after stop()" is checked by advancing it, not by waiting. I/O and Date stay real.
    jest.useFakeTimers({
      doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date', 'hrtime', 'performance'],
    });
    let logged!: () => void;
    const failureLogged = new Promise<void>((resolve) => (logged = resolve));
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => logged());
    const pruner = new SessionPruner(store, revocations, dataSource, {
      ...options,
      pruneIntervalMs: 20,
    });
    const rounds = jest.spyOn(pruner, 'pruneOnce');
    const batch = jest
      .spyOn(store, 'pruneBatch')
      .mockRejectedValueOnce(new Error('database went away'))
      .mockResolvedValue(0);
    try {
      pruner.start();
      expect((pruner as unknown as { timer: NodeJS.Timeout }).timer.hasRef()).toBe(false);
      expect(rounds).not.toHaveBeenCalled();

      await jest.advanceTimersByTimeAsync(20);
      expect(rounds).toHaveBeenCalledTimes(1);
      await failureLogged;
      expect(error).toHaveBeenCalledWith(expect.stringContaining('database went away'));

      // The failed round did not stop the schedule: the next interval runs a round that works.
      await jest.advanceTimersByTimeAsync(20);
      expect(rounds).toHaveBeenCalledTimes(2);
      await expect(rounds.mock.results[1].value).resolves.toBe(0);
      expect(batch).toHaveBeenCalledTimes(2);

      await pruner.stop();
      await jest.advanceTimersByTimeAsync(20 * 50);
      expect(rounds).toHaveBeenCalledTimes(2);
    } finally {
      await pruner.stop();
      jest.useRealTimers();
      batch.mockRestore();
      error.mockRestore();
    }
  });

  if (kind === 'postgres') {
    const pruneKey = () => `bodhi-session-prune:${db.schema}.${db.table}`;
    const pruneLockRows = () => {
      const { sql, params } = advisoryLockRowsQuery(pruneKey());
      return db.query<{ pid: number; granted: boolean }>(sql, params);
    };

    it('skips the round while another instance holds the prune lock in an open transaction', async () => {
      await insertRows('old', 10, -1000);
      const other = new pg.Client({ connectionString: TEST_PG_URL });
      await other.connect();
      try {
        await other.query('BEGIN');
        await other.query('SELECT pg_advisory_xact_lock(hashtext($1))', [pruneKey()]);
        const pruner = new SessionPruner(store, revocations, dataSource, options);
        expect(await pruner.pruneOnce()).toBe(0);
        const [left] = await db.query<{ n: string }>(
          `SELECT count(*) AS n FROM ${db.qualifiedTable}`,
        );
        expect(Number(left.n)).toBe(10);
        // The skipped round left nothing behind: only the holder's lock is there.
        expect(await pruneLockRows()).toEqual([{ pid: expect.any(Number), granted: true }]);
        await other.query('COMMIT');
        expect(await pruner.pruneOnce()).toBe(10);
      } finally {
        await other.end();
      }
      expect(await pruneLockRows()).toEqual([]);
    });

    it('lets one instance prune at a time: a second one skips while the first is mid-round, and the lock is gone after', async () => {
      await insertRows('old', 150, -1000);
      // The first instance's round stops inside its first batch until the test lets it go on.
      const inBatch = deferred();
      const goOn = deferred();
      const prune = store.pruneBatch.bind(store);
      const batch = jest.spyOn(store, 'pruneBatch').mockImplementationOnce(async (size) => {
        inBatch.resolve();
        await goOn.promise;
        return prune(size);
      });
      try {
        const first = new SessionPruner(store, revocations, dataSource, options).pruneOnce();
        await inBatch.promise;
        expect(await pruneLockRows()).toEqual([{ pid: expect.any(Number), granted: true }]);
        const second = await openTestStore(db, { pruneBatchSize: 100 });
        try {
          const other = new SessionPruner(
            second.store,
            second.revocations,
            second.dataSource,
            second.options,
          );
          expect(await other.pruneOnce()).toBe(0);
        } finally {
          await second.dataSource.destroy();
        }
        goOn.resolve();
        expect(await first).toBe(150);
      } finally {
        goOn.resolve();
        batch.mockRestore();
      }
      expect(await pruneLockRows()).toEqual([]);
    });
  }

  it('lets other work run between batches', async () => {
    await insertRows('old', 300, -1000);
    // The order of events, as the pruner and "other work" (a macrotask queued as each batch
    // finishes, like a request's I/O callback) reach them. A pruner that did not yield
    // would call the next batch before any of that work ran.
    const events: string[] = [];
    const prune = store.pruneBatch.bind(store);
    const batch = jest.spyOn(store, 'pruneBatch').mockImplementation(async (size) => {
      const n = batch.mock.calls.length;
      events.push(`batch ${n}`);
      const removed = await prune(size);
      setImmediate(() => events.push(`other work after batch ${n}`));
      return removed;
    });
    try {
      const pruner = new SessionPruner(store, revocations, dataSource, {
        ...options,
        pruneBatchSize: 50,
      });
      expect(await pruner.pruneOnce()).toBe(300);
      expect(batch).toHaveBeenCalledTimes(7);
      // Batches 1–6 each had a successor; the work queued after each ran before it. (After
      // the last batch the round ends: whether that work runs before it is not the point.)
      expect(events.slice(0, 13)).toEqual(
        Array.from({ length: 6 }, (_, i) => [`batch ${i + 1}`, `other work after batch ${i + 1}`])
          .flat()
          .concat('batch 7'),
      );
    } finally {
      batch.mockRestore();
    }
  });

  if (kind === 'sqlite') {
    it('waits for the WAL checkpoint worker every 10 batches, so the WAL restarts instead of growing', async () => {
      const file = db.url.slice('sqlite:'.length);
      const big = 'x'.repeat(2000);
      const expired = Date.now() - 1000;
      for (let i = 0; i < 2000; i++) {
        await db.query(
          `INSERT INTO ${db.qualifiedTable} (id, data, expires_at) VALUES ($1, $2, $3)`,
          [`wal-${i}`, big, expired],
        );
      }
      // Start from an empty WAL (retry while the worker holds the checkpoint lock).
      await until(async () => {
        await walCheckpointerOf(dataSource)?.drain();
        const [r] = await db.query<{ busy: number }>('PRAGMA wal_checkpoint(TRUNCATE)');
        return r.busy === 0;
      });
      expect(fs.statSync(`${file}-wal`).size).toBe(0);
      const checkpointer = walCheckpointerOf(dataSource);
      if (!checkpointer) throw new Error('a SQLite file has a checkpoint worker');
      const drain = jest.spyOn(checkpointer, 'drain');
      try {
        const pruner = new SessionPruner(store, revocations, dataSource, {
          ...options,
          pruneBatchSize: 20,
        });
        expect(await pruner.pruneOnce()).toBe(2000);
        // 101 batches: a wait after every 10th that had a successor.
        expect(drain).toHaveBeenCalledTimes(10);
        // ~4 MB of rows deleted, yet the WAL never held more than ~10 batches of pages.
        expect(fs.statSync(`${file}-wal`).size).toBeLessThan(2 * 1024 * 1024);
      } finally {
        drain.mockRestore();
      }
    });
  }

  it('leaves live sessions alone when nothing has expired', async () => {
    await store.saveSession('live', sessionFixture(60_000));
    expect(await new SessionPruner(store, revocations, dataSource, options).pruneOnce()).toBe(0);
    expect(await store.findSession('live')).not.toBeNull();
  });
});
