import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openCachedTestStore, type CachedTestStore } from './cached-test-store.js';
import { sessionListenerPids } from './cluster-cache.js';
import { createTestSessionDb, type TestSessionDb } from './session-db.js';
import { until } from './wait.js';

// The session-cache e2e kills a server's listener by the pid this finds: it must find it
// whatever the listener ran last (its health probes run on the listening connection), and
// only the listener of the table asked for.
describe('sessionListenerPids', () => {
  let db: TestSessionDb;
  let other: TestSessionDb;
  let instance: CachedTestStore;
  let otherInstance: CachedTestStore;

  beforeAll(async () => {
    [db, other] = await Promise.all([
      createTestSessionDb('postgres'),
      createTestSessionDb('postgres'),
    ]);
    [instance, otherInstance] = await Promise.all([
      openCachedTestStore(db),
      openCachedTestStore(other),
    ]);
  });
  afterAll(async () => {
    await Promise.all([instance?.close(), otherInstance?.close()]);
    await Promise.all([db?.drop(), other?.drop()]);
  });

  it("finds a table's listener after its health probes have run on it, and no other table's", async () => {
    const [pid] = await sessionListenerPids(db);
    expect(typeof pid).toBe('number');
    // A health probe has run on the listening connection: it is its last statement now.
    await until(async () => {
      const [row] = await db.query<{ query: string }>(
        'SELECT query FROM pg_stat_activity WHERE pid = $1',
        [pid],
      );
      return row?.query.startsWith('SELECT pg_notify') ?? false;
    }, 10_000);
    expect(await sessionListenerPids(db)).toEqual([pid]);
    const [otherPid] = await sessionListenerPids(other);
    expect(typeof otherPid).toBe('number');
    expect(otherPid).not.toBe(pid);
  });
});
