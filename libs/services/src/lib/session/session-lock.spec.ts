import type { DataSource } from 'typeorm';
import {
  createTestSessionDb,
  deferred,
  openTestStore,
  SESSION_BACKENDS,
  TestSessionDb,
} from '@bodhi/testing';
import { SessionLock } from './session-lock.js';

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
    expect(await peakOverlap([new SessionLock(sources[0], kind)], 'sid-a', 20)).toBe(1);
  });

  it('does not serialize different sessions', async () => {
    const lock = new SessionLock(sources[0], kind);
    // Each holder stays inside until all three are: only locks that do not serialize
    // different ids let that happen (serialized ones would wait here until the test's timeout).
    const sids = ['x', 'y', 'z'];
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
    const lock = new SessionLock(sources[0], kind);
    await expect(
      lock.run('sid-err', async () => Promise.reject(new Error('boom'))),
    ).rejects.toThrow('boom');
    await expect(lock.run('sid-err', async () => 'next')).resolves.toBe('next');
  });

  if (kind === 'postgres') {
    it('keeps connections for the work: many sessions locking at once never exhaust the pool', async () => {
      // Pool of 10 (the default); 40 sessions lock at once and each does a query under its lock.
      const lock = new SessionLock(sources[0], kind, 5_000, 5);
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          lock.run(
            `busy-${i}`,
            async () => (await sources[0].query('SELECT $1::int AS n', [i]))[0].n as number,
          ),
        ),
      );
      expect(results).toEqual(Array.from({ length: 40 }, (_, i) => i));
    });

    it('holds across instances sharing the database', async () => {
      const locks = sources.map((ds) => new SessionLock(ds, kind));
      expect(await peakOverlap(locks, 'sid-cluster', 20)).toBe(1);
    });

    it('gives up after its timeout while another instance holds the lock', async () => {
      const holder = new SessionLock(sources[0], kind);
      const waiter = new SessionLock(sources[1], kind, 100);
      const holding = deferred();
      const release = deferred();
      const held = holder.run('sid-held', async () => {
        holding.resolve();
        await release.promise;
      });
      await holding.promise;
      await expect(waiter.run('sid-held', async () => 'never')).rejects.toThrow(
        /Timed out after 100 ms/,
      );
      release.resolve();
      await held;
    });
  }
});
