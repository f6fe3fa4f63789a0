import { jest } from '@jest/globals';
import pg from 'pg';
import { DataSource } from 'typeorm';
import {
  createTestSessionDb,
  deferred,
  TEST_PGBOUNCER_URL,
  TestSessionDb,
  until,
} from '@bodhi/testing';
import type { AdvisoryLockKey } from '../../locks/lock-keys.js';
import type { TransactionLockWait } from '../session-dialect.js';
import { advisoryLockRowsQuery, withTransactionLock } from './transaction-lock.js';

const NAMESPACE = 0x0b0d;

describe('withTransactionLock on postgres', () => {
  let db: TestSessionDb;
  // Two DataSources stand for two server instances on one database.
  let a: DataSource;
  let b: DataSource;
  const openDataSource = async (max = 3, url = db.url) =>
    new DataSource({
      type: 'postgres',
      url,
      // No idle timeout: a pooled connection lives on, as would anything left on one.
      extra: { max, idleTimeoutMillis: 0 },
    }).initialize();

  beforeAll(async () => {
    db = await createTestSessionDb('postgres');
    await db.query(`CREATE SCHEMA "${db.schema}"`);
    await db.query(`CREATE TABLE "${db.schema}".written (v text)`);
    [a, b] = await Promise.all([openDataSource(), openDataSource()]);
  });
  afterAll(async () => {
    await Promise.all([a, b].map((ds) => ds?.destroy()));
    await db?.drop();
  });

  /** Connections taken from the DataSource's pool and not given back. */
  const checkedOut = (ds: DataSource) => {
    const pool = (ds.driver as unknown as { master: pg.Pool }).master;
    return pool.totalCount - pool.idleCount;
  };
  const expectConnectionsReturned = () => {
    expect(checkedOut(a)).toBe(0);
    expect(checkedOut(b)).toBe(0);
  };

  /** The lock as PostgreSQL shows it: its pg_locks rows. */
  const lockRows = (k: AdvisoryLockKey) => {
    const { sql, params } = advisoryLockRowsQuery(k);
    return db.query<{ pid: number; granted: boolean }>(sql, params);
  };

  /** Another instance holding the lock in an open transaction on a client of the test's own. */
  const holdInTransaction = async (k: AdvisoryLockKey) => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const [fn, params] =
      typeof k === 'string' ? ['(hashtext($1))', [k]] : ['($1, hashtext($2))', [k[0], k[1]]];
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock${fn}`, params);
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return {
      pid: rows[0].pid,
      end: async (how: 'COMMIT' | 'ROLLBACK') => {
        await client.query(how);
        await client.end();
      },
    };
  };

  // Advisory locks are database-wide: names carry the suite's private schema, so suites
  // running in parallel never share a lock.
  const forms: [string, (name: string) => AdvisoryLockKey][] = [
    ['a name', (name) => name],
    ['a [namespace, name] pair', (name) => [NAMESPACE, name]],
  ];

  describe.each(forms)('keyed by %s', (_, keyOf) => {
    let key: AdvisoryLockKey;
    let n = 0;
    beforeEach(() => {
      key = keyOf(`transaction-lock-spec:${db.schema}:${n++}`);
    });
    afterEach(async () => {
      // Whatever the test did, nothing of its lock is left: no holder, no waiter.
      expect(await lockRows(key)).toEqual([]);
    });

    /** Takes the lock and keeps it until `leave` is called; resolves once it is held. */
    const hold = async (ds: DataSource) => {
      const left = deferred();
      const holding = deferred();
      const done = withTransactionLock(ds, key, 'try', async () => {
        holding.resolve();
        await left.promise;
        return 'held';
      });
      await Promise.race([holding.promise, done]);
      return { leave: () => left.resolve(), done };
    };

    it('excludes every other transaction while held, and is free once the work is done', async () => {
      const holder = await hold(a);
      const work = jest.fn(async () => 'other');
      // Another instance, and another connection of the holder's own pool.
      expect(await withTransactionLock(b, key, 'try', work)).toEqual({ acquired: false });
      expect(await withTransactionLock(a, key, { timeoutMs: 20 }, work)).toEqual({
        acquired: false,
      });
      expect(work).not.toHaveBeenCalled();
      // One row: the holder's. The refused ones left none behind.
      expect(await lockRows(key)).toEqual([{ pid: expect.any(Number), granted: true }]);

      holder.leave();
      expect(await holder.done).toEqual({ acquired: true, value: 'held' });
      expect(await lockRows(key)).toEqual([]);
      expect(await withTransactionLock(b, key, 'try', work)).toEqual({
        acquired: true,
        value: 'other',
      });
      expectConnectionsReturned();
    });

    it('makes a waiter wait in the server while another transaction holds it, and lets it in at that COMMIT', async () => {
      const other = await holdInTransaction(key);
      let entered = false;
      const waiter = withTransactionLock(b, key, { timeoutMs: 60_000 }, async () => {
        entered = true;
        return 'waited';
      });
      // The waiter's request shows in pg_locks, not granted, while the holder keeps the lock.
      await until(async () => (await lockRows(key)).some((row) => !row.granted));
      expect(entered).toBe(false);
      await other.end('COMMIT');
      expect(await waiter).toEqual({ acquired: true, value: 'waited' });
      expectConnectionsReturned();
    });

    it('gives up at its timeout: not acquired, its wait gone from pg_locks, the holder untouched', async () => {
      const other = await holdInTransaction(key);
      try {
        const work = jest.fn(async () => 'never');
        expect(await withTransactionLock(b, key, { timeoutMs: 50 }, work)).toEqual({
          acquired: false,
        });
        expect(work).not.toHaveBeenCalled();
        expect(await lockRows(key)).toEqual([{ pid: other.pid, granted: true }]);
        expectConnectionsReturned();
      } finally {
        await other.end('COMMIT');
      }
    });

    it.each<[string, TransactionLockWait]>([
      ['try', 'try'],
      ['timeout', { timeoutMs: 1_000 }],
    ])('rolls back and gives its connection back when the work throws (%s)', async (_, wait) => {
      const marker = `thrown-${JSON.stringify(key)}`;
      await expect(
        withTransactionLock(a, key, wait, async (runner) => {
          await runner.query(`INSERT INTO "${db.schema}".written VALUES ($1)`, [marker]);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await lockRows(key)).toEqual([]);
      // What the work wrote in the lock's transaction went with it.
      expect(await db.query(`SELECT 1 FROM "${db.schema}".written WHERE v = $1`, [marker])).toEqual(
        [],
      );
      expect(await withTransactionLock(b, key, 'try', async () => 'next')).toEqual({
        acquired: true,
        value: 'next',
      });
      expectConnectionsReturned();
    });

    it("commits what the work did on the lock's runner with the lock, and nothing before", async () => {
      const marker = `committed-${JSON.stringify(key)}`;
      const written = deferred();
      const finish = deferred();
      const done = withTransactionLock(a, key, 'try', async (runner) => {
        await runner.query(`INSERT INTO "${db.schema}".written VALUES ($1)`, [marker]);
        written.resolve();
        await finish.promise;
      });
      await written.promise;
      const visible = () => db.query(`SELECT 1 FROM "${db.schema}".written WHERE v = $1`, [marker]);
      expect(await visible()).toEqual([]);
      finish.resolve();
      expect(await done).toEqual({ acquired: true, value: undefined });
      expect(await visible()).toHaveLength(1);
      expectConnectionsReturned();
    });

    it('ends with its connection: a holder whose connection dies has its COMMIT fail, and the lock is free', async () => {
      const holder = await hold(a);
      const [{ pid }] = await lockRows(key);
      await db.query('SELECT pg_terminate_backend($1)', [pid]);
      await until(
        async () =>
          (await db.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).length === 0,
      );
      // Free at once, before the holder even knows.
      expect(await withTransactionLock(b, key, 'try', async () => 'next')).toEqual({
        acquired: true,
        value: 'next',
      });
      holder.leave();
      await expect(holder.done).rejects.toThrow();
      expectConnectionsReturned();
      // The dead connection left the pool: the DataSource still works.
      expect(await a.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    });

    it('closes, not pools, a live connection whose COMMIT failed: its open transaction cannot keep the lock', async () => {
      // COMMIT fails while the connection stays up: handed back to the pool, the connection
      // would sit in its transaction, holding the lock, for whoever takes it next.
      const createQueryRunner = a.createQueryRunner.bind(a);
      const spy = jest.spyOn(a, 'createQueryRunner').mockImplementation((...args) => {
        const runner = createQueryRunner(...args);
        runner.commitTransaction = () => Promise.reject(new Error('commit refused'));
        return runner;
      });
      try {
        await expect(withTransactionLock(a, key, 'try', async () => 'done')).rejects.toThrow(
          'commit refused',
        );
      } finally {
        spy.mockRestore();
      }
      await until(async () => (await lockRows(key)).length === 0);
      expect(await withTransactionLock(b, key, 'try', async () => 'next')).toEqual({
        acquired: true,
        value: 'next',
      });
      expectConnectionsReturned();
    });
  });

  it('leaves no setting behind on a pooled connection; its timeout applies to the lock wait only', async () => {
    // One connection: whatever the lock set on it, the next user of the pool would see.
    const single = await openDataSource(1);
    const key = `transaction-lock-spec:${db.schema}:settings`;
    try {
      const other = await holdInTransaction(key);
      expect(await withTransactionLock(single, key, { timeoutMs: 30 }, async () => 0)).toEqual({
        acquired: false,
      });
      await other.end('COMMIT');
      const inside = await withTransactionLock(
        single,
        key,
        { timeoutMs: 30 },
        async (runner) => (await runner.query('SHOW lock_timeout'))[0].lock_timeout,
      );
      expect(inside).toEqual({ acquired: true, value: '0' });
      expect(await single.query('SHOW lock_timeout')).toEqual([{ lock_timeout: '0' }]);
      // And no transaction was left open on it: in one of its own, a statement starts the
      // transaction, so the two clocks agree.
      expect(await single.query('SELECT now() = statement_timestamp() AS outside')).toEqual([
        { outside: true },
      ]);
    } finally {
      await single.destroy();
    }
  });

  describe('through a transaction pooler (PgBouncer, pool_mode = transaction)', () => {
    // Two instances on the pooler: their statements share its few server connections, so a
    // lock that belonged to a server connection would be shared between them.
    let pa: DataSource;
    let pb: DataSource;
    beforeAll(async () => {
      [pa, pb] = await Promise.all([
        openDataSource(3, TEST_PGBOUNCER_URL),
        openDataSource(3, TEST_PGBOUNCER_URL),
      ]);
    });
    afterAll(async () => {
      await Promise.all([pa, pb].map((ds) => ds?.destroy()));
    });
    let n = 0;
    let key: string;
    beforeEach(() => {
      key = `transaction-lock-spec:${db.schema}:pooled:${n++}`;
    });
    afterEach(async () => {
      expect(await lockRows(key)).toEqual([]);
    });

    it('excludes the other instance while held, on whichever server connection it lands', async () => {
      const left = deferred();
      const holding = deferred();
      const held = withTransactionLock(pa, key, 'try', async () => {
        holding.resolve();
        await left.promise;
        return 'held';
      });
      await Promise.race([holding.promise, held]);
      const work = jest.fn(async () => 'other');
      // Ten tries, each a transaction the pooler may put on any of its server connections.
      for (let i = 0; i < 10; i++) {
        expect(await withTransactionLock(pb, key, 'try', work)).toEqual({ acquired: false });
      }
      expect(await withTransactionLock(pb, key, { timeoutMs: 50 }, work)).toEqual({
        acquired: false,
      });
      expect(work).not.toHaveBeenCalled();
      left.resolve();
      expect(await held).toEqual({ acquired: true, value: 'held' });
      // Released with the holder's transaction: nothing left on the pooler's connections.
      expect(await lockRows(key)).toEqual([]);
      expect(await withTransactionLock(pb, key, 'try', work)).toEqual({
        acquired: true,
        value: 'other',
      });
    });

    it("makes a waiter wait until the holder's COMMIT, then lets it in", async () => {
      const other = await holdInTransaction(key);
      const waiter = withTransactionLock(pb, key, { timeoutMs: 60_000 }, async () => 'waited');
      await until(async () => (await lockRows(key)).some((row) => !row.granted));
      await other.end('COMMIT');
      expect(await waiter).toEqual({ acquired: true, value: 'waited' });
    });
  });

  it('keeps a name and a [namespace, name] pair apart: they are different locks', async () => {
    const name = `transaction-lock-spec:${db.schema}:apart`;
    const other = await holdInTransaction(name);
    try {
      expect(await withTransactionLock(b, [NAMESPACE, name], 'try', async () => 'in')).toEqual({
        acquired: true,
        value: 'in',
      });
      expect(await withTransactionLock(b, name, 'try', async () => 'in')).toEqual({
        acquired: false,
      });
    } finally {
      await other.end('COMMIT');
    }
    expectConnectionsReturned();
  });
});
