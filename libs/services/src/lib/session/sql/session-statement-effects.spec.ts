import type { DataSource } from 'typeorm';
import {
  createTestSessionDb,
  deferred,
  openTestStore,
  sessionFixture,
  type TestSessionDb,
} from '@bodhi/testing';
import { BodhiMetrics } from '../../metrics/bodhi-metrics.js';
import { storeStatements, type StoreStatements } from '../cache/cached-statements.js';
import type { StatementParams } from './sql-statement.js';
import { SessionCache } from '../cache/session-cache.js';
import { createSessionStore, sessionTableRef } from '../store/session-data-source.factory.js';
import { SessionLock } from '../locks/session-lock.js';
import { sessionKey } from '../store/session-key.js';
import type { SessionStoreBackend } from '../store/session-store.backend.js';
import {
  companionTable,
  qualifiedTable,
  sessionStatements,
  type SessionTableRef,
} from './session-sql.js';
import { revocationStatements } from '../../revocation/revocation-statements.js';
import type { ResolvedSessionOptions } from '../config/session.options.js';

/** Every statement of the store: the session store's and the revocation records'. */
const allStatements = (ref: SessionTableRef) => ({
  ...sessionStatements(ref),
  ...revocationStatements(ref),
});
type AllStatements = ReturnType<typeof allStatements>;

/** The statements that write `table`s, by what their SQL says (INSERT, UPDATE, DELETE). */
function statementsWriting(ref: SessionTableRef, tables: SessionTableRef[]): string[] {
  const names = new Set(tables.map(qualifiedTable));
  return Object.entries(allStatements(ref))
    .filter(([, { sql }]) => {
      const written = /^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(\S+)/i.exec(sql)?.[1];
      return written !== undefined && names.has(written);
    })
    .map(([name]) => name)
    .sort();
}

/** The statements with an effect on the cache (the same on either dialect). */
const withEffect = () =>
  Object.entries(allStatements({ kind: 'sqlite', table: 'sessions' }))
    .filter(([, statement]) => statement.effect !== undefined)
    .map(([name]) => name);

/**
 * A statement's `effect` is what the writer's own cache drops as soon as its write has run:
 * a statement without one, or one reading the wrong parameter, leaves this instance
 * serving a session it has just changed or ended until its own notification comes back.
 */
describe('statement effects', () => {
  it('the session and the revocation statements have names of their own (the operation label)', () => {
    const ref: SessionTableRef = { kind: 'sqlite', table: 'sessions' };
    const session = Object.keys(sessionStatements(ref));
    expect(Object.keys(revocationStatements(ref)).filter((n) => session.includes(n))).toEqual([]);
  });

  it.each<SessionTableRef>([
    { kind: 'postgres', table: 'sessions', schema: 'app' },
    { kind: 'sqlite', table: 'sessions' },
  ])(
    'has an entry for every statement that writes the session or user-revocation table but pruneBatch ($kind)',
    (ref) => {
      const written = statementsWriting(ref, [ref, companionTable(ref, 'userRevocations')]);
      // The parse finds the writes it should (not vacuously none).
      expect(written).toEqual(expect.arrayContaining(['set', 'destroy', 'revokeUser']));
      expect(withEffect().sort()).toEqual(written.filter((name) => name !== 'pruneBatch'));
    },
  );

  /**
   * Each statement run on real rows through a cache that serves without a listener, so
   * that only the write's own effect drops anything: the session it names (by key, or its
   * user's) goes, another user's stays (every one goes for a table-wide write). The write
   * must change a row, which checks that the parameters below are where its SQL reads them.
   */
  describe('drops what each write changed from the writer’s cache (postgres)', () => {
    let db: TestSessionDb;
    let dataSource: DataSource;
    let options: ResolvedSessionOptions;
    let store: SessionStoreBackend;
    let cache: SessionCache;
    let statements: StoreStatements<AllStatements>;
    const [sid, otherSid] = ['effects-target', 'effects-other'];
    const [key, otherKey] = [sid, otherSid].map(sessionKey);
    const HOUR = 3_600_000;

    beforeAll(async () => {
      db = await createTestSessionDb('postgres');
      ({ dataSource, options, store } = await openTestStore(db));
    });
    afterAll(async () => {
      await dataSource?.destroy();
      await db?.drop();
    });

    beforeEach(async () => {
      // Rows written with the store (uncached), then read through the cache under test.
      await db.query(`DELETE FROM ${db.qualifiedTable}`);
      await store.saveSession(sid, sessionFixture(HOUR, { user_id: 'u-target' }));
      await store.saveSession(otherSid, sessionFixture(HOUR, { user_id: 'u-other' }));
      cache = new SessionCache({ metrics: new BodhiMetrics() });
      cache.resume();
      statements = storeStatements(dataSource, sessionTableRef(options), allStatements, { cache });
      for (const k of [key, otherKey]) await statements.rows('get', { key: k, now: Date.now() });
      expect(cache.size).toBe(2);
    });

    const storedData = async () =>
      (
        await db.query<{ data: string }>(`SELECT data FROM ${db.qualifiedTable} WHERE id = $1`, [
          key,
        ])
      )[0].data;

    type Params = StatementParams<AllStatements>;
    /** Each statement's parameters, naming the target session or user. */
    const cases: { [N in keyof Params]?: (now: number) => Promise<Params[N]> | Params[N] } = {
      set: (now) => ({
        key,
        data: '{"cookie":{}}',
        expiresAt: now + HOUR,
        userId: 'u-target',
        createdAt: now,
        lastSeenAt: now,
        userAgent: null,
        clientAddress: null,
        maxLifetimeMs: HOUR,
      }),
      update: (now) => ({
        key,
        data: '{"cookie":{}}',
        expiresAt: now + HOUR,
        userId: 'u-target',
        createdAt: now,
        lastSeenAt: now,
        userAgent: null,
        clientAddress: null,
        maxLifetimeMs: options.maxLifetimeMs,
      }),
      touch: (now) => ({
        key,
        now,
        expiresAt: now + 2 * HOUR,
        lastSeenAt: now,
        createdAt: now,
        maxLifetimeMs: options.maxLifetimeMs,
      }),
      destroy: () => ({ key }),
      destroyIfData: async () => ({ key, data: await storedData() }),
      destroyUserSession: (now) => ({ key, userId: 'u-target', now }),
      destroyForUser: () => ({ userId: 'u-target' }),
      destroyUserSessionsExcept: () => ({ userId: 'u-target', keepKey: '' }),
      clear: () => ({}),
      revokeUser: (now) => ({ userId: 'u-target', notBefore: now }),
      revokeSessionUsers: (now) => ({ notBefore: now }),
    };
    const tableWide = new Set(['clear', 'revokeSessionUsers']);

    it("keeps a key ended inside a session lock's transaction out until the commit: a read meanwhile sees the old row and does not fill", async () => {
      const store = createSessionStore(dataSource, options, undefined, cache);
      const lock = new SessionLock({ dataSource, kind: 'postgres' });
      const ended = deferred();
      const commit = deferred();
      const holder = lock.run(sid, async () => {
        await store.destroySession(sid);
        ended.resolve();
        await commit.promise;
      });
      await ended.promise;
      // Another request, outside the lock: the delete is not committed yet.
      expect(await store.findSession(sid)).not.toBeNull();
      commit.resolve();
      await holder;
      expect(await store.findSession(sid)).toBeNull();
    });

    it('covers every statement with an effect', () => {
      expect(Object.keys(cases).sort()).toEqual(withEffect().sort());
    });

    it.each(Object.keys(cases) as (keyof Params)[])('%s', async (name) => {
      // Each case gives its own statement's parameters (`cases` is typed so).
      const params = await cases[name]?.(Date.now());
      expect(await statements.run(name, params as never)).toBeGreaterThan(0);
      expect(cache.lookup(key, Date.now())).toBeUndefined();
      if (tableWide.has(name)) expect(cache.size).toBe(0);
      else expect(cache.lookup(otherKey, Date.now())).toBeDefined();
    });
  });
});
