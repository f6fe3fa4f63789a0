import { jest } from '@jest/globals';
import type pg from 'pg';
import { DataSource } from 'typeorm';
import { createTestSessionDb, deferred, TestSessionDb, until } from '@bodhi/testing';
import { AdvisoryLockKey, AdvisoryLockWait, withAdvisoryLock } from './advisory-lock.js';

const NAMESPACE = 0x0b0d;

describe('withAdvisoryLock on postgres', () => {
  let db: TestSessionDb;
  // Two DataSources stand for two server instances on one database.
  let a: DataSource;
  let b: DataSource;
  const openDataSource = async (applicationName?: string) =>
    new DataSource({
      type: 'postgres',
      url: db.url,
      applicationName,
      // No idle timeout: a pooled connection lives on, as would a lock left on one.
      extra: { max: 3, idleTimeoutMillis: 0 },
    }).initialize();

  beforeAll(async () => {
    db = await createTestSessionDb('postgres');
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
      key = keyOf(`advisory-lock-spec:${db.schema}:${n++}`);
    });

    /** The lock as PostgreSQL shows it: pg_locks rows of its key (one bigint, or two ints). */
    const lockRows = (k: AdvisoryLockKey) =>
      typeof k === 'string'
        ? db.query<{ pid: number; granted: boolean }>(
            `SELECT pid, granted FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1
               AND classid = ((hashtext($1)::bigint >> 32) & 4294967295)::oid
               AND objid = (hashtext($1)::bigint & 4294967295)::oid`,
            [k],
          )
        : db.query<{ pid: number; granted: boolean }>(
            `SELECT pid, granted FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2
               AND classid = ($1::bigint & 4294967295)::oid
               AND objid = (hashtext($2)::bigint & 4294967295)::oid`,
            [k[0], k[1]],
          );

    /** Takes the lock and keeps it until `leave` is called; resolves once it is held. */
    const hold = async (ds: DataSource) => {
      const left = deferred();
      const holding = deferred();
      const done = withAdvisoryLock(ds, key, 'block', async () => {
        holding.resolve();
        await left.promise;
        return 'held';
      });
      await holding.promise;
      return { leave: () => left.resolve(), done };
    };

    it('excludes every other connection while held, and is free once the work is done', async () => {
      const holder = await hold(a);
      const work = jest.fn(async () => 'other');
      // Another instance, and another connection of the holder's own pool.
      expect(await withAdvisoryLock(b, key, 'try', work)).toEqual({ acquired: false });
      expect(await withAdvisoryLock(a, key, 'try', work)).toEqual({ acquired: false });
      // The key is derived as before: an instance running older code, which takes the lock
      // in SQL, is excluded as well.
      const [sql, params] =
        typeof key === 'string' ? ['hashtext($1)', [key]] : ['$1, hashtext($2)', [key[0], key[1]]];
      const [raw] = await db.query<{ locked: boolean }>(
        `SELECT pg_try_advisory_lock(${sql}) AS locked`,
        params,
      );
      expect(raw.locked).toBe(false);
      expect(work).not.toHaveBeenCalled();

      holder.leave();
      expect(await holder.done).toBe('held');
      expect(await lockRows(key)).toEqual([]);
      expect(await withAdvisoryLock(b, key, 'try', work)).toEqual({
        acquired: true,
        value: 'other',
      });
      expectConnectionsReturned();
    });

    it('lets a blocking waiter in only once the holder has left', async () => {
      const holder = await hold(a);
      let entered = false;
      const waiter = withAdvisoryLock(b, key, 'block', async () => {
        entered = true;
        return 'waited';
      });
      // The waiter's request shows in pg_locks, not granted, while the holder keeps the lock.
      await until(async () => (await lockRows(key)).some((row) => !row.granted));
      expect(entered).toBe(false);
      holder.leave();
      expect(await holder.done).toBe('held');
      expect(await waiter).toBe('waited');
      expectConnectionsReturned();
    });

    it('lets a polling waiter give up at its timeout, or in once the holder leaves before it', async () => {
      const holder = await hold(a);
      const work = jest.fn(async () => 'polled');
      expect(await withAdvisoryLock(b, key, { timeoutMs: 50 }, work)).toEqual({
        acquired: false,
      });
      expect(work).not.toHaveBeenCalled();

      // A poller on a connection of its own, so pg_stat_activity tells when it has been
      // refused: its connection sits idle after a try-lock that could not succeed.
      const app = `advisory-lock-spec-${db.schema}`;
      const poller = await openDataSource(app);
      try {
        const polled = withAdvisoryLock(poller, key, { timeoutMs: 10_000 }, work);
        await until(
          async () =>
            (
              await db.query(
                `SELECT 1 FROM pg_stat_activity WHERE application_name = $1
                   AND state = 'idle' AND query LIKE '%pg_try_advisory%'`,
                [app],
              )
            ).length > 0,
        );
        holder.leave();
        await holder.done;
        expect(await polled).toEqual({ acquired: true, value: 'polled' });
        expect(checkedOut(poller)).toBe(0);
      } finally {
        await poller.destroy();
      }
      expectConnectionsReturned();
    });

    it.each<[string, AdvisoryLockWait]>([
      ['block', 'block'],
      ['try', 'try'],
      ['poll', { timeoutMs: 1_000 }],
    ])('unlocks and gives its connection back when the work throws (%s)', async (_, wait) => {
      const boom = async () => Promise.reject(new Error('boom'));
      await expect(
        wait === 'block'
          ? withAdvisoryLock(a, key, wait, boom)
          : withAdvisoryLock(a, key, wait, boom),
      ).rejects.toThrow('boom');
      expect(await lockRows(key)).toEqual([]);
      expect(await withAdvisoryLock(b, key, 'try', async () => 'next')).toEqual({
        acquired: true,
        value: 'next',
      });
      expectConnectionsReturned();
    });

    it("keeps the work's result when the lock's connection dies while held: the lock ends with it", async () => {
      const holder = await hold(a);
      const [{ pid }] = await lockRows(key);
      await db.query('SELECT pg_terminate_backend($1)', [pid]);
      await until(
        async () =>
          (await db.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).length === 0,
      );
      holder.leave();
      expect(await holder.done).toBe('held');
      expect(await withAdvisoryLock(b, key, 'try', async () => 'next')).toEqual({
        acquired: true,
        value: 'next',
      });
      expectConnectionsReturned();
      // The dead connection left the pool: the DataSource still works.
      expect(await a.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    });

    it('closes, not pools, a live connection whose unlock failed: the lock cannot leak', async () => {
      // The unlock statement fails while the connection itself stays up (as a statement
      // timeout would make it): handed back to the pool, it would keep the lock.
      const createQueryRunner = a.createQueryRunner.bind(a);
      const spy = jest.spyOn(a, 'createQueryRunner').mockImplementation((...args) => {
        const runner = createQueryRunner(...args);
        const query = runner.query.bind(runner);
        runner.query = ((sql: string, params?: unknown[]) =>
          sql.includes('pg_advisory_unlock')
            ? Promise.reject(new Error('unlock refused'))
            : query(sql, params)) as typeof runner.query;
        return runner;
      });
      try {
        expect(await withAdvisoryLock(a, key, 'try', async () => 'done')).toEqual({
          acquired: true,
          value: 'done',
        });
      } finally {
        spy.mockRestore();
      }
      await until(async () => (await lockRows(key)).length === 0);
      expect(await withAdvisoryLock(b, key, 'try', async () => 'next')).toEqual({
        acquired: true,
        value: 'next',
      });
      expectConnectionsReturned();
    });
  });

  it('keeps a name and a [namespace, name] pair apart: they are different locks', async () => {
    const name = `advisory-lock-spec:${db.schema}:apart`;
    const holding = deferred();
    const left = deferred();
    const held = withAdvisoryLock(a, name, 'block', async () => {
      holding.resolve();
      await left.promise;
    });
    await holding.promise;
    expect(await withAdvisoryLock(b, [NAMESPACE, name], 'try', async () => 'in')).toEqual({
      acquired: true,
      value: 'in',
    });
    left.resolve();
    await held;
    expectConnectionsReturned();
  });
});
