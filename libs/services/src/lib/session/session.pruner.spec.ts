import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import pg from 'pg';
import { until } from '../../testing.js';
import {
  createTestSessionDb,
  openTestStore,
  SESSION_BACKENDS,
  sessionFixture,
  TEST_PG_URL,
  TestSessionDb,
} from '../../testing.js';
import type { ResolvedSessionOptions } from './session.options.js';
import { SessionPruner } from './session.pruner.js';
import type { SessionStoreBackend } from './session-store.backend.js';
import type { DataSource } from 'typeorm';
import * as fs from 'node:fs';
import type { SessionDataSource } from './session-data-source.factory.js';

describe.each(SESSION_BACKENDS)('SessionPruner on %s', (kind) => {
  let db: TestSessionDb;
  let dataSource: DataSource;
  let store: SessionStoreBackend;
  let options: ResolvedSessionOptions;

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    ({ dataSource, store, options } = await openTestStore(db, { pruneBatchSize: 100 }));
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
    const pruner = new SessionPruner(store, dataSource, options);
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
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const pruner = new SessionPruner(store, dataSource, { ...options, pruneIntervalMs: 20 });
    const batch = jest
      .spyOn(store, 'pruneBatch')
      .mockRejectedValueOnce(new Error('database went away'))
      .mockResolvedValue(0);
    try {
      pruner.start();
      expect((pruner as unknown as { timer: NodeJS.Timeout }).timer.hasRef()).toBe(false);
      await until(() => batch.mock.calls.length >= 3);
      expect(error).toHaveBeenCalledWith(expect.stringContaining('database went away'));
      await pruner.stop();
      const calls = batch.mock.calls.length;
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(batch.mock.calls.length).toBe(calls);
    } finally {
      await pruner.stop();
      batch.mockRestore();
      error.mockRestore();
    }
  });

  if (kind === 'postgres') {
    it('skips the round while another instance holds the prune lock', async () => {
      await insertRows('old', 10, -1000);
      const other = new pg.Client({ connectionString: TEST_PG_URL });
      await other.connect();
      const key = `bodhi-session-prune:${db.schema}.${db.table}`;
      try {
        await other.query('SELECT pg_advisory_lock(hashtext($1))', [key]);
        const pruner = new SessionPruner(store, dataSource, options);
        expect(await pruner.pruneOnce()).toBe(0);
        await other.query('SELECT pg_advisory_unlock(hashtext($1))', [key]);
        expect(await pruner.pruneOnce()).toBe(10);
      } finally {
        await other.end();
      }
    });
  }

  it('lets other work run between batches', async () => {
    await insertRows('old', 300, -1000);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 0);
    const batch = jest.spyOn(store, 'pruneBatch');
    try {
      const pruner = new SessionPruner(store, dataSource, { ...options, pruneBatchSize: 50 });
      expect(await pruner.pruneOnce()).toBe(300);
      expect(batch).toHaveBeenCalledTimes(7);
      // A timer got turns while the batches ran (a synchronous driver must not starve it).
      expect(ticks).toBeGreaterThan(0);
    } finally {
      clearInterval(ticker);
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
        await (dataSource as SessionDataSource).drainWal();
        const [r] = await db.query<{ busy: number }>('PRAGMA wal_checkpoint(TRUNCATE)');
        return r.busy === 0;
      });
      expect(fs.statSync(`${file}-wal`).size).toBe(0);
      const drain = jest.spyOn(dataSource as SessionDataSource, 'drainWal');
      try {
        const pruner = new SessionPruner(store, dataSource, { ...options, pruneBatchSize: 20 });
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
    expect(await new SessionPruner(store, dataSource, options).pruneOnce()).toBe(0);
    expect(await store.findSession('live')).not.toBeNull();
  });
});
