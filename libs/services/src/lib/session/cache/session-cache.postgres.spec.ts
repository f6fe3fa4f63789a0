import pg from 'pg';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { SessionData } from 'express-session';
import { once } from 'node:events';
import {
  createTestSessionDb,
  openCachedTestStore,
  sessionFixture,
  sessionListenerPids,
  TcpProxy,
  TEST_ENCRYPTION_KEY,
  TEST_PG_URL,
  TEST_PGBOUNCER_URL,
  terminateBackends,
  until,
  type CachedTestStore,
  type TestSessionDb,
} from '@bodhi/testing';
import { PG_MAX_TABLE_NAME_LENGTH } from '../sql/table-names.js';
import type { SessionCacheRuntime } from '../store/session-data-source.factory.js';
import { sessionKey } from '../store/session-key.js';
import { userNotBefore } from '../store/session-store.backend.js';
import { SessionCipher } from '../crypto/session-cipher.js';
import { sessionDialect } from '../dialects/index.js';
import { invalidationChannel } from '../cluster/channel-messages.js';

const HOUR = 3_600_000;

/**
 * Resolves once `b` has heard `n` more notifications of changes than `before` (what
 * `b.counts()` said before the change): its listener has dropped what they name.
 */
async function heard(b: CachedTestStore, before: number, n: number): Promise<void> {
  await until(async () => (await b.counts()).notified >= before + n);
  expect((await b.counts()).notified).toBe(before + n);
}

function runtimeOf(b: CachedTestStore): SessionCacheRuntime {
  if (!b.runtime) throw new Error('the session cache is off');
  return b.runtime;
}

/** A session `b` serves from its cache: read once from the database, then hit. */
async function cachedOn(b: CachedTestStore, sid: string): Promise<SessionData> {
  const first = await b.read(sid);
  expect(first).toMatchObject({ lookup: 'miss', statements: 1 });
  const second = await b.read(sid);
  expect(second).toMatchObject({ lookup: 'hit', statements: 0 });
  return second.session as SessionData;
}

/**
 * Two instances on one database, as a cluster's servers are: each its own pool, cache and
 * listener. What one changes (through the store, the revocation records or an operator's
 * SQL), the other's next read reflects once its listener has heard of it, though it had
 * the session cached.
 */
describe('session cache on postgres: two instances', () => {
  let db: TestSessionDb;
  let a: CachedTestStore;
  let b: CachedTestStore;
  let n = 0;
  /** A session id of this test's own. */
  const sid = (name: string) => `${name}-${process.pid}-${++n}`;
  const save = (id: string, userId: string, extra: Record<string, unknown> = {}) =>
    a.store.saveSession(id, sessionFixture(HOUR, { user_id: userId, ...extra }));

  beforeAll(async () => {
    db = await createTestSessionDb('postgres');
    a = await openCachedTestStore(db);
  });
  // B is new in each test: it listens from after the last test's changes, so what it hears
  // is this test's alone.
  beforeEach(async () => {
    b = await openCachedTestStore(db);
    expect(b.runtime?.cache.isServing).toBe(true);
  });
  afterEach(() => b?.close());
  afterAll(async () => {
    await a?.close();
    await db?.drop();
  });

  it('a destroy on A ends the session on B', async () => {
    const s = sid('destroy');
    await save(s, 'u-destroy');
    await cachedOn(b, s);
    const { notified } = await b.counts();
    await a.store.destroySession(s);
    await heard(b, notified, 1);
    expect(await b.read(s)).toMatchObject({ session: null, lookup: 'miss' });
  });

  it('a save of a loaded session on A is what B reads next', async () => {
    const s = sid('update');
    await save(s, 'u-update', { step: 1 });
    await cachedOn(b, s);
    const { notified } = await b.counts();
    const loaded = (await a.store.findSession(s)) as SessionData & { step: number };
    loaded.step = 2;
    expect(await a.store.updateSession(s, loaded)).toBe(true);
    await heard(b, notified, 1);
    expect(await b.read(s)).toMatchObject({ session: { step: 2 }, lookup: 'miss' });
  });

  it('a touch on A that writes moves the expiry B reads', async () => {
    const s = sid('touch');
    await save(s, 'u-touch');
    const before = new Date((await cachedOn(b, s)).cookie.expires as Date).getTime();
    const { notified } = await b.counts();
    const loaded = (await a.store.findSession(s)) as SessionData;
    // Two hours ahead: past touch-after, so the touch writes.
    loaded.cookie.expires = new Date(Date.now() + 2 * HOUR);
    expect(await a.store.touchSession(s, loaded)).toBe(true);
    await heard(b, notified, 1);
    const read = await b.read(s);
    expect(read.lookup).toBe('miss');
    expect(new Date(read.session?.cookie.expires as Date).getTime()).toBeGreaterThan(before + HOUR);
  });

  it("destroyForUser on A ends that user's sessions on B, and no one else's", async () => {
    const [s1, s2, other] = [sid('for-user'), sid('for-user'), sid('other')];
    await save(s1, 'u-for-user');
    await save(s2, 'u-for-user');
    await save(other, 'u-someone-else');
    for (const s of [s1, s2, other]) await cachedOn(b, s);
    const { notified } = await b.counts();
    expect(await a.store.destroyForUser('u-for-user')).toBe(2);
    await heard(b, notified, 2);
    expect(await b.read(s1)).toMatchObject({ session: null, lookup: 'miss' });
    expect(await b.read(s2)).toMatchObject({ session: null, lookup: 'miss' });
    expect(await b.read(other)).toMatchObject({ lookup: 'hit' });
  });

  it('destroyUserSession on A ends that one session on B', async () => {
    const [s1, s2] = [sid('one'), sid('one')];
    await save(s1, 'u-one');
    await save(s2, 'u-one');
    await cachedOn(b, s1);
    await cachedOn(b, s2);
    const { notified } = await b.counts();
    expect(await a.store.destroyUserSession('u-one', sessionKey(s1))).toBeDefined();
    await heard(b, notified, 1);
    expect(await b.read(s1)).toMatchObject({ session: null, lookup: 'miss' });
    expect(await b.read(s2)).toMatchObject({ lookup: 'hit' });
  });

  it('destroyUserSessionsExcept on A ends the others on B and keeps the one kept', async () => {
    const [kept, s1, s2] = [sid('kept'), sid('ended'), sid('ended')];
    for (const s of [kept, s1, s2]) await save(s, 'u-except');
    for (const s of [kept, s1, s2]) await cachedOn(b, s);
    const { notified } = await b.counts();
    expect(await a.store.destroyUserSessionsExcept('u-except', sessionKey(kept))).toHaveLength(2);
    await heard(b, notified, 2);
    expect(await b.read(s1)).toMatchObject({ session: null, lookup: 'miss' });
    expect(await b.read(s2)).toMatchObject({ session: null, lookup: 'miss' });
    expect(await b.read(kept)).toMatchObject({ lookup: 'hit' });
  });

  it("revokeUser on A: B reads the user's new not-before with their session", async () => {
    const s = sid('revoke');
    await save(s, 'u-revoke');
    expect(userNotBefore(await cachedOn(b, s))).toBeUndefined();
    const { notified } = await b.counts();
    const at = Date.now();
    await a.revocations.revokeUser('u-revoke', at);
    await heard(b, notified, 1);
    const read = await b.read(s);
    expect(read.lookup).toBe('miss');
    expect(userNotBefore(read.session as SessionData)).toBe(at);
  });

  it('revokeSessionUsers on A: B reads a fresh not-before for every user', async () => {
    await db.query(`DELETE FROM ${db.qualifiedTable}`);
    // B listens from after that delete; two users have sessions now.
    await b.close();
    b = await openCachedTestStore(db);
    const [s1, s2] = [sid('all-users'), sid('all-users')];
    await save(s1, 'u-all-1');
    await save(s2, 'u-all-2');
    // An older revocation of one of them, which the new one moves forward.
    const before = Date.now();
    const earlier = await b.counts();
    await a.revocations.revokeUser('u-all-1', before - HOUR);
    await heard(b, earlier.notified, 1);
    await cachedOn(b, s1);
    await cachedOn(b, s2);
    const { notified } = await b.counts();
    await a.revocations.revokeSessionUsers();
    await heard(b, notified, 2);
    for (const s of [s1, s2]) {
      const read = await b.read(s);
      expect(read.lookup).toBe('miss');
      expect(userNotBefore(read.session as SessionData)).toBeGreaterThanOrEqual(before);
    }
  });

  it('clear on A ends every session on B', async () => {
    await db.query(`DELETE FROM ${db.qualifiedTable}`);
    await b.close();
    b = await openCachedTestStore(db);
    const [s1, s2] = [sid('clear'), sid('clear')];
    await save(s1, 'u-clear-1');
    await save(s2, 'u-clear-2');
    await cachedOn(b, s1);
    await cachedOn(b, s2);
    const { notified } = await b.counts();
    expect(await a.store.clearSessions()).toBe(2);
    await heard(b, notified, 2);
    expect(await b.read(s1)).toMatchObject({ session: null, lookup: 'miss' });
    expect(await b.read(s2)).toMatchObject({ session: null, lookup: 'miss' });
  });

  describe("an operator's SQL over a plain connection, outside the store", () => {
    it('UPDATE: B reads the new data', async () => {
      const s = sid('sql-update');
      await save(s, 'u-sql');
      await cachedOn(b, s);
      const { notified } = await b.counts();
      const data = JSON.stringify(sessionFixture(HOUR, { user_id: 'u-sql', edited: true }));
      await db.query(`UPDATE ${db.qualifiedTable} SET data = $1 WHERE id = $2`, [
        data,
        sessionKey(s),
      ]);
      await heard(b, notified, 1);
      expect(await b.read(s)).toMatchObject({ session: { edited: true }, lookup: 'miss' });
    });

    it('DELETE: B no longer has the session', async () => {
      const s = sid('sql-delete');
      await save(s, 'u-sql');
      await cachedOn(b, s);
      const { notified } = await b.counts();
      await db.query(`DELETE FROM ${db.qualifiedTable} WHERE id = $1`, [sessionKey(s)]);
      await heard(b, notified, 1);
      expect(await b.read(s)).toMatchObject({ session: null, lookup: 'miss' });
    });

    it('TRUNCATE: B has no session left', async () => {
      const [s1, s2] = [sid('sql-truncate'), sid('sql-truncate')];
      await save(s1, 'u-sql-1');
      await save(s2, 'u-sql-2');
      await cachedOn(b, s1);
      await cachedOn(b, s2);
      const { notified } = await b.counts();
      await db.query(`TRUNCATE ${db.qualifiedTable}`);
      await heard(b, notified, 1);
      expect(b.runtime?.cache.size).toBe(0);
      expect(await b.read(s1)).toMatchObject({ session: null, lookup: 'miss' });
      expect(await b.read(s2)).toMatchObject({ session: null, lookup: 'miss' });
    });
  });

  /**
   * B's listener reaches PostgreSQL through a proxy of the test's, which holds B's
   * reconnection back for as long as the test needs the listener down.
   */
  describe("B's listener killed (pg_terminate_backend)", () => {
    let proxy: TcpProxy;

    beforeEach(async () => {
      proxy = await TcpProxy.start(TEST_PG_URL);
      await b.close();
      b = await openCachedTestStore(db, { cacheListenUrl: proxy.url });
    });
    afterEach(() => proxy?.close());

    it('B flushes and bypasses its cache, reads what A changed meanwhile, and caches again once back', async () => {
      const s = sid('killed');
      await save(s, 'u-killed', { step: 1 });
      await cachedOn(b, s);
      const { cache, listener } = runtimeOf(b);
      const suspended = once(listener, 'suspended');
      proxy.hold();
      // B's listener alone: the connection through the proxy (others' listeners are left alone).
      const listeners = await sessionListenerPids(db, proxy.upstreamPorts());
      expect(listeners).toHaveLength(1);
      expect(await terminateBackends(db, listeners)).toBe(1);
      expect(await suspended).toEqual(['listener_lost']);
      expect(cache.isServing).toBe(false);
      expect(cache.size).toBe(0);
      expect(await b.read(s)).toMatchObject({ session: { step: 1 }, lookup: 'bypass' });

      // A changes the session while B's listener is down (its reconnection held): B hears
      // nothing of it, and still reads it.
      const { notified } = await b.counts();
      const loaded = (await a.store.findSession(s)) as SessionData & { step: number };
      loaded.step = 2;
      await a.store.updateSession(s, loaded);
      expect(await b.read(s)).toMatchObject({ session: { step: 2 }, lookup: 'bypass' });
      expect((await b.counts()).notified).toBe(notified);

      const serving = once(listener, 'serving');
      proxy.release();
      await serving;
      expect(await cachedOn(b, s)).toMatchObject({ step: 2 });
      const { values } = await b.metrics.sessionCacheSuspensions.get();
      expect(values.map((v) => [v.labels.reason, v.value])).toEqual([['listener_lost', 1]]);
    });
  });

  describe("B's listener gone silent (its connection open, nothing arriving)", () => {
    let proxy: TcpProxy;

    beforeEach(async () => {
      proxy = await TcpProxy.start(TEST_PG_URL);
      await b.close();
      b = await openCachedTestStore(db, { cacheListenUrl: proxy.url });
    });
    afterEach(() => proxy?.close());

    it("B's health check stops its cache, which then reads the change it missed", async () => {
      const s = sid('silent');
      await save(s, 'u-silent');
      await cachedOn(b, s);
      const { cache, listener } = runtimeOf(b);
      const suspended = once(listener, 'suspended');
      proxy.stall();
      await a.store.destroySession(s);
      // Until the health check fails, B may serve the entry (the bound of a silent loss).
      expect(await suspended).toEqual(['health_check']);
      expect(cache.size).toBe(0);
      expect(await b.read(s)).toMatchObject({ session: null, lookup: 'bypass' });
      await once(listener, 'serving');
      const other = sid('silent-after');
      await save(other, 'u-silent');
      await cachedOn(b, other);
    });
  });

  describe('behind PgBouncer (transaction mode)', () => {
    const pooled = { url: TEST_PGBOUNCER_URL, statements: 'unnamed' } as const;

    afterEach(() => jest.restoreAllMocks());

    it('without a listen URL the cache is off, with one boot line saying why, and every read goes to the database', async () => {
      const logger = new Logger('SessionCache');
      const log = jest.spyOn(logger, 'log').mockImplementation(() => undefined);
      const behind = await openCachedTestStore(db, pooled, logger);
      try {
        expect(log.mock.calls).toEqual([
          [expect.stringMatching(/^Session cache off: BODHI_SESSION_DB_URL looks like a pooler's/)],
        ]);
        expect(behind.runtime).toBeNull();
        const s = sid('pooler-off');
        await save(s, 'u-pooler-off');
        expect(await behind.read(s)).toMatchObject({ lookup: 'none', statements: 1 });
        expect(await behind.read(s)).toMatchObject({ lookup: 'none', statements: 1 });
      } finally {
        await behind.close();
      }
    });

    it('a listener on the pooler never hears its probe: the cache stays bypassed, with a warning', async () => {
      const logger = new Logger('SessionCache');
      const warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
      const log = jest.spyOn(logger, 'log').mockImplementation(() => undefined);
      const behind = await openCachedTestStore(
        db,
        { ...pooled, cacheListenUrl: TEST_PGBOUNCER_URL },
        logger,
      );
      try {
        expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^Session cache bypassed: /));
        expect(log).not.toHaveBeenCalledWith(expect.stringMatching(/^Session cache on/));
        expect(behind.runtime?.cache.isServing).toBe(false);
        expect((await behind.metrics.sessionCacheServing.get()).values[0].value).toBe(0);
        const s = sid('pooler');
        await save(s, 'u-pooler');
        expect(await behind.read(s)).toMatchObject({ lookup: 'bypass', statements: 1 });
        expect(await behind.read(s)).toMatchObject({ lookup: 'bypass', statements: 1 });
      } finally {
        await behind.close();
      }
    });

    it('with a direct listen URL it serves through the pooler and hears what A changes', async () => {
      const logger = new Logger('SessionCache');
      const log = jest.spyOn(logger, 'log').mockImplementation(() => undefined);
      const behind = await openCachedTestStore(
        db,
        { ...pooled, cacheListenUrl: TEST_PG_URL },
        logger,
      );
      try {
        expect(log).toHaveBeenCalledWith(
          expect.stringMatching(/^Session cache on: listening for session changes on PostgreSQL /),
        );
        const s = sid('pooler-direct');
        await save(s, 'u-pooler-direct');
        await cachedOn(behind, s);
        const { notified } = await behind.counts();
        await a.store.destroySession(s);
        await heard(behind, notified, 1);
        expect(await behind.read(s)).toMatchObject({ session: null, lookup: 'miss' });
      } finally {
        await behind.close();
      }
    });
  });
});

describe('session cache on postgres: encrypted rows', () => {
  let db: TestSessionDb;
  let store: CachedTestStore;

  beforeAll(async () => {
    db = await createTestSessionDb('postgres');
    store = await openCachedTestStore(db, { encryptionKeys: [TEST_ENCRYPTION_KEY] });
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it('decrypts a cached row once, and each hit still gets a session object of its own', async () => {
    const sid = `encrypted-${process.pid}`;
    await store.store.saveSession(sid, sessionFixture(HOUR, { user_id: 'u-enc', n: 1 }));
    const decrypt = jest.spyOn(SessionCipher.prototype, 'decrypt');
    try {
      expect(await store.read(sid)).toMatchObject({ lookup: 'miss', statements: 1 });
      const first = await store.read(sid);
      const second = await store.read(sid);
      expect([first.lookup, second.lookup]).toEqual(['hit', 'hit']);
      // Only the miss decrypted: the hits reused its plaintext.
      expect(decrypt).toHaveBeenCalledTimes(1);
      expect(second.session).toMatchObject({ user_id: 'u-enc', n: 1 });
      // express-session edits the object it is given: one hit's edit is not another's.
      (first.session as unknown as { n: number }).n = 2;
      expect((await store.read(sid)).session).toMatchObject({ n: 1 });
    } finally {
      decrypt.mockRestore();
    }
  });
});

describe('session cache on postgres: an ending is answered once announced', () => {
  let db: TestSessionDb;
  let proxy: TcpProxy;
  let a: CachedTestStore;
  let sql: pg.Client;

  beforeAll(async () => {
    db = await createTestSessionDb('postgres');
    // A's listener hears the database through a proxy that can keep its notifications back.
    proxy = await TcpProxy.start(TEST_PG_URL);
    a = await openCachedTestStore(db, { cacheListenUrl: proxy.url });
    sql = new pg.Client(TEST_PG_URL);
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await a?.close();
    await proxy?.close();
    await db?.drop();
  });

  const rowGone = async (sid: string) =>
    (await sql.query(`SELECT 1 FROM ${db.qualifiedTable} WHERE id = $1`, [sessionKey(sid)]))
      .rowCount === 0;

  /**
   * Ends `sid` through `end` while A's listener is kept from hearing anything: the row is
   * deleted (committed), and the ending has not returned; once the listener hears again,
   * it returns, and A has heard of it.
   */
  async function endedOnceHeard(sid: string, end: () => Promise<unknown>): Promise<void> {
    await a.store.saveSession(sid, sessionFixture(HOUR, { user_id: 'u-announced' }));
    const before = (await a.counts()).notified;
    proxy.stall();
    let returned = false;
    const ending = end().then(() => (returned = true));
    await until(() => rowGone(sid));
    expect(returned).toBe(false);
    proxy.unstall();
    await ending;
    expect((await a.counts()).notified).toBeGreaterThan(before);
  }

  it("a destroy returns only once its own listener heard it, which every instance's was sent with it", async () => {
    await endedOnceHeard(`announced-${process.pid}`, () =>
      a.store.destroySession(`announced-${process.pid}`),
    );
  });

  it('waits for every serving instance to acknowledge it: B, kept from hearing, holds it back', async () => {
    const bProxy = await TcpProxy.start(TEST_PG_URL);
    const b = await openCachedTestStore(db, { cacheListenUrl: bProxy.url });
    try {
      // A waits for B once it has heard one of B's probes saying B serves.
      await until(async () => runtimeOf(a).listener.servingInstances() === 2);
      const sid = `announced-b-${process.pid}`;
      await a.store.saveSession(sid, sessionFixture(HOUR, { user_id: 'u-announced' }));
      await b.read(sid);
      expect((await b.read(sid)).lookup).toBe('hit');
      const before = (await b.counts()).notified;
      bProxy.stall();
      const ownAnswer = once(runtimeOf(a).listener, 'acknowledged');
      let returned = false;
      const ending = a.store.destroySession(sid).then(() => (returned = true));
      // A itself has answered; what holds the ending back is B's answer, which B cannot send.
      expect(await ownAnswer).toEqual([true]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(returned).toBe(false);
      bProxy.unstall();
      await ending;
      // When A's ending returns, B has dropped it: its next read goes to the database.
      expect((await b.counts()).notified).toBeGreaterThan(before);
      expect(await b.read(sid)).toMatchObject({ session: null, lookup: 'miss' });
    } finally {
      await b.close();
      await bProxy.close();
    }
  });

  it("inside a lock's transaction it waits after the commit, never for what only the commit sends", async () => {
    const sid = `announced-locked-${process.pid}`;
    const lock = sessionDialect('postgres').crossProcessLock;
    if (!lock) throw new Error('PostgreSQL has a cross-process lock');
    let destroyedInLock = false;
    await endedOnceHeard(sid, () =>
      lock(
        a.dataSource,
        `announced:${sessionKey(sid)}`,
        { timeoutMs: 5000 },
        async () => (destroyedInLock = await a.store.destroySession(sid)),
        { onLockConnection: true },
      ),
    );
    expect(destroyedInLock).toBe(true);
  });
});

describe('session cache on postgres: where the table is, and who may speak on its channel', () => {
  /** A session B serves from its cache, ended on A: B's next read must find it gone. */
  async function endedOnAReachesB(a: CachedTestStore, b: CachedTestStore, sid: string) {
    await a.store.saveSession(sid, sessionFixture(HOUR, { user_id: 'u-where' }));
    await cachedOn(b, sid);
    const before = (await b.counts()).notified;
    await a.store.destroySession(sid);
    await heard(b, before, 1);
    expect(await b.read(sid)).toMatchObject({ session: null, lookup: 'miss' });
  }

  it('an instance naming the schema and one leaving it to the search path share one channel', async () => {
    const db = await createTestSessionDb('postgres');
    const byName = await openCachedTestStore(db);
    const url = new URL(db.url);
    url.searchParams.set('options', `-c search_path=${db.schema}`);
    const bySearchPath = await openCachedTestStore(db, { url: url.href, schema: undefined });
    try {
      await endedOnAReachesB(byName, bySearchPath, `where-1-${process.pid}`);
      await endedOnAReachesB(bySearchPath, byName, `where-2-${process.pid}`);
    } finally {
      await bySearchPath.close();
      await byName.close();
      await db.drop();
    }
  });

  it(`a table name of the longest allowed (${PG_MAX_TABLE_NAME_LENGTH} characters) keeps all three triggers (their names are fixed-length)`, async () => {
    const db = await createTestSessionDb('postgres', 's'.repeat(PG_MAX_TABLE_NAME_LENGTH));
    const a = await openCachedTestStore(db);
    const b = await openCachedTestStore(db);
    try {
      const triggers = await db.query<{ tgname: string }>(
        'SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN ($1::regclass, $2::regclass)',
        [db.qualifiedTable, db.besideTable('user_revocations')],
      );
      expect(triggers).toHaveLength(3);
      await endedOnAReachesB(a, b, `long-${process.pid}`);
    } finally {
      await b.close();
      await a.close();
      await db.drop();
    }
  });

  it("a stranger's NOTIFY posing as a serving instance is not waited for", async () => {
    const db = await createTestSessionDb('postgres');
    const a = await openCachedTestStore(db);
    try {
      const listener = runtimeOf(a).listener;
      // A's own probe saying it serves (sent once it does) has come back.
      await until(async () => listener.servingInstances() === 1);
      const channel = invalidationChannel(db.schema as string, db.table);
      await db.query('SELECT pg_notify($1, $2)', [channel, 'p:ghost:1:1']);
      await db.query('SELECT pg_notify($1, $2)', [
        channel,
        'p:ghost2:1:1.0123456789abcdef0123456789abcdef',
      ]);
      // A change after them: once A has heard it, it has handled the forgeries before it.
      const before = (await a.counts()).notified;
      await db.query('SELECT pg_notify($1, $2)', [channel, `s:${sessionKey('nobody')}`]);
      await heard(a, before, 1);
      expect(listener.servingInstances()).toBe(1);
    } finally {
      await a.close();
      await db.drop();
    }
  });
});
