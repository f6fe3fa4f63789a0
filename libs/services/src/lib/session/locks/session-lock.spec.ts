import pg from 'pg';
import type { DataSource } from 'typeorm';
import {
  createTestSessionDb,
  deferred,
  openTestStore,
  SESSION_BACKENDS,
  TEST_PGBOUNCER_URL,
  TestSessionDb,
  until,
} from '@bodhi/testing';
import { SessionLock, sessionLockKey, SessionLockTimeoutError } from './session-lock.js';
import { advisoryLockRowsQuery } from '../dialects/postgres/transaction-lock.js';

describe.each(SESSION_BACKENDS)('SessionLock on %s', (kind) => {
  let db: TestSessionDb;
  const sources: DataSource[] = [];

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    // Two DataSources stand for two server instances on one database.
    for (let i = 0; i < 2; i++) sources.push((await openTestStore(db)).dataSource);
  });
  afterAll(async () => {
    await Promise.all(sources.map((ds) => ds.destroy()));
    await db?.drop();
  });

  /**
   * The session ids of this test, unique to the suite (advisory locks are database-wide and
   * suites run in parallel), so the locks left behind can be looked up afterwards.
   */
  const used: string[] = [];
  const sidOf = (name: string) => {
    const sid = `${name}:${db.schema ?? 'sqlite'}:${process.pid}`;
    used.push(sid);
    return sid;
  };
  const lockRows = async (sid: string) => {
    const { sql, params } = advisoryLockRowsQuery(sessionLockKey(sid));
    return kind === 'postgres' ? db.query<{ pid: number; granted: boolean }>(sql, params) : [];
  };
  afterEach(async () => {
    // No lock outlives its holder: nothing in pg_locks for any session id the test used.
    for (const sid of used.splice(0)) expect(await lockRows(sid)).toEqual([]);
  });

  /**
   * Runs `n` overlapping critical sections spread over the given locks; returns the peak
   * overlap. Each section does a real database round trip, so a broken lock lets others in.
   */
  const peakOverlap = async (locks: SessionLock[], sid: string, n: number) => {
    let inside = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        locks[i % locks.length].run(sid, async () => {
          peak = Math.max(peak, ++inside);
          await db.query('SELECT 1');
          inside--;
        }),
      ),
    );
    return peak;
  };

  it('admits one holder at a time for a session id', async () => {
    expect(
      await peakOverlap([new SessionLock({ dataSource: sources[0], kind })], sidOf('sid-a'), 20),
    ).toBe(1);
  });

  it('does not serialize different sessions', async () => {
    const lock = new SessionLock({ dataSource: sources[0], kind });
    // Each holder stays inside until all three are: only locks that do not serialize
    // different ids let that happen (serialized ones would wait here until the test's timeout).
    const sids = ['x', 'y', 'z'].map(sidOf);
    const entered = sids.map(() => deferred());
    const allInside = Promise.all(entered.map((e) => e.promise));
    await Promise.all(
      sids.map((sid, i) =>
        lock.run(sid, async () => {
          entered[i].resolve();
          await allInside;
        }),
      ),
    );
  });

  it('releases the lock when the work throws', async () => {
    const lock = new SessionLock({ dataSource: sources[0], kind });
    await expect(
      lock.run(sidOf('sid-err'), async () => Promise.reject(new Error('boom'))),
    ).rejects.toThrow('boom');
    await expect(lock.run(sidOf('sid-err'), async () => 'next')).resolves.toBe('next');
  });

  if (kind === 'postgres') {
    it('keeps connections for the work: many sessions locking at once never exhaust the pool', async () => {
      // Pool of 10 (the default); 40 sessions lock at once and each does a query under its lock.
      const lock = new SessionLock({
        dataSource: sources[0],
        kind,
        timeoutMs: 5_000,
        maxHolders: 5,
      });
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          lock.run(
            sidOf(`busy-${i}`),
            async () => (await sources[0].query('SELECT $1::int AS n', [i]))[0].n as number,
          ),
        ),
      );
      expect(results).toEqual(Array.from({ length: 40 }, (_, i) => i));
    });

    it('holds across instances sharing the database', async () => {
      const locks = sources.map((ds) => new SessionLock({ dataSource: ds, kind }));
      expect(await peakOverlap(locks, sidOf('sid-cluster'), 20)).toBe(1);
    });

    it('holds across instances reaching the database through a transaction pooler (PgBouncer)', async () => {
      const pooled: DataSource[] = [];
      try {
        for (let i = 0; i < 2; i++) {
          const opened = await openTestStore(db, {
            url: TEST_PGBOUNCER_URL,
            statements: 'unnamed',
          });
          pooled.push(opened.dataSource);
        }
        const locks = pooled.map((ds) => new SessionLock({ dataSource: ds, kind }));
        expect(await peakOverlap(locks, sidOf('sid-pooled'), 20)).toBe(1);
      } finally {
        await Promise.all(pooled.map((ds) => ds.destroy()));
      }
    });

    it('gives up after its timeout while another instance holds the lock', async () => {
      const holder = new SessionLock({ dataSource: sources[0], kind });
      const waiter = new SessionLock({ dataSource: sources[1], kind, timeoutMs: 100 });
      const holding = deferred();
      const release = deferred();
      const held = holder.run(sidOf('sid-held'), async () => {
        holding.resolve();
        await release.promise;
      });
      await holding.promise;
      await expect(waiter.run(sidOf('sid-held'), async () => 'never')).rejects.toThrow(
        /Timed out after 100 ms/,
      );
      release.resolve();
      await held;
    });

    it("gives up waiting for a holder's slot after its timeout: holders that never finish cost a 503, not a hang", async () => {
      const lock = new SessionLock({ dataSource: sources[0], kind, timeoutMs: 100, maxHolders: 1 });
      const holding = deferred();
      const release = deferred();
      const held = lock.run(sidOf('slot-holder'), async () => {
        holding.resolve();
        await release.promise;
      });
      await holding.promise;
      // Another session: no lock of its own is contended, only the one slot.
      await expect(lock.run(sidOf('slot-waiter'), async () => 'never')).rejects.toThrow(
        SessionLockTimeoutError,
      );
      release.resolve();
      await held;
      await expect(lock.run(sidOf('slot-after'), async () => 'next')).resolves.toBe('next');
    });

    /** Another instance holding a session's lock in an open transaction of its own. */
    const holdInTransaction = async (sid: string) => {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      await client.query('BEGIN');
      const [namespace, name] = sessionLockKey(sid) as [number, string];
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [namespace, name]);
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      return {
        pid: rows[0].pid,
        commit: async () => {
          await client.query('COMMIT');
          await client.end();
        },
      };
    };

    it("waits in the server while another instance's transaction holds the lock, and runs at its COMMIT", async () => {
      const sid = sidOf('sid-xact');
      const other = await holdInTransaction(sid);
      let entered = false;
      const waiting = new SessionLock({ dataSource: sources[0], kind }).run(sid, async () => {
        entered = true;
        return 'ran';
      });
      await until(async () => (await lockRows(sid)).some((row) => !row.granted));
      expect(entered).toBe(false);
      await other.commit();
      expect(await waiting).toBe('ran');
    });

    it('times out with SessionLockTimeoutError, its wait gone from pg_locks', async () => {
      const sid = sidOf('sid-timeout');
      const other = await holdInTransaction(sid);
      try {
        await expect(
          new SessionLock({ dataSource: sources[1], kind, timeoutMs: 50 }).run(
            sid,
            async () => 'never',
          ),
        ).rejects.toThrow(/Timed out after 50 ms waiting for a session lock/);
        expect(await lockRows(sid)).toEqual([{ pid: other.pid, granted: true }]);
      } finally {
        await other.commit();
      }
      // The in-process queue moved on too: the next caller gets the lock.
      await expect(
        new SessionLock({ dataSource: sources[1], kind, timeoutMs: 50 }).run(
          sid,
          async () => 'next',
        ),
      ).resolves.toBe('next');
    });
  }
});
