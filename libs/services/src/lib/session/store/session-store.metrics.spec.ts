import { Test } from '@nestjs/testing';
import pg from 'pg';
import {
  createTestSessionDb,
  metricValues,
  SESSION_BACKENDS,
  sessionFixture,
  SqliteLockHolder,
  TEST_PG_URL,
  testSessionOptions,
  type TestSessionDb,
} from '@bodhi/testing';
import type { SessionModuleOptions } from '../config/session.options.js';
import { resolveSessionOptions } from '../config/session.options.js';
import {
  createSessionDataSource,
  createSessionRevocations,
  createSessionStore,
} from './session-data-source.factory.js';
import { BodhiMetrics } from '../../metrics/bodhi-metrics.js';
import { MetricsModule } from '../../metrics/metrics.module.js';
import {
  InvalidSessionInputError,
  SessionStoreUnavailableError,
  SessionTooLargeError,
} from '../session.errors.js';
import { SessionPruner } from './session.pruner.js';
import { SessionModule } from '../session.module.js';
import { DefaultSessionService } from '../session.service.js';
import {
  advisoryLockRowsQuery,
  withTransactionLock,
} from '../dialects/postgres/transaction-lock.js';
import { pruneLockKey } from '../locks/lock-keys.js';
import { SessionLock, sessionLockKey, SessionLockTimeoutError } from '../locks/session-lock.js';

/** How many times each statement was timed, as `operation@backend`. */
async function timedStatements(metrics: BodhiMetrics): Promise<Record<string, number>> {
  const { values } = await metrics.storeOperationDuration.get();
  return Object.fromEntries(
    values
      .filter((v) => v.metricName?.endsWith('_count'))
      .map((v) => [`${v.labels.operation}@${v.labels.backend}`, v.value]),
  );
}

/** The store errors counted, as `operation@backend:kind`. */
async function storeErrors(metrics: BodhiMetrics): Promise<Record<string, number>> {
  const { values } = await metrics.storeErrors.get();
  return Object.fromEntries(
    values.map((v) => [`${v.labels.operation}@${v.labels.backend}:${v.labels.kind}`, v.value]),
  );
}

/** How many prune rounds `pruneDuration` timed. */
async function pruneRounds(metrics: BodhiMetrics): Promise<number> {
  const { values } = await metrics.pruneDuration.get();
  return values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
}

describe.each(SESSION_BACKENDS)('session store metrics on %s', (kind) => {
  let db: TestSessionDb;
  const opened: { destroy(): Promise<void>; isInitialized: boolean }[] = [];

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
  });
  afterEach(async () => {
    for (const ds of opened.splice(0)) if (ds.isInitialized) await ds.destroy();
  });
  afterAll(() => db?.drop());

  /** A store and revocation records on the test database, counting into a metrics of their own. */
  const open = async (overrides: Partial<SessionModuleOptions> = {}) => {
    const metrics = new BodhiMetrics();
    const options = resolveSessionOptions(testSessionOptions(db, overrides));
    const dataSource = await createSessionDataSource(options);
    opened.push(dataSource);
    const store = createSessionStore(dataSource, options, metrics);
    const revocations = createSessionRevocations(dataSource, options, metrics);
    return { metrics, options, dataSource, store, revocations };
  };

  it('times exactly the statements a get, set, touch and destroy ran, by name and backend', async () => {
    const { metrics, store } = await open();
    const session = sessionFixture(60_000, { user_id: 'u-metrics' });
    await store.saveSession('sid-ops', session);
    expect(await store.findSession('sid-ops')).toMatchObject({ user_id: 'u-metrics' });
    expect(await store.touchSession('sid-ops', session)).toBe(true);
    expect(await store.destroySession('sid-ops')).toBe(true);
    expect(await timedStatements(metrics)).toEqual({
      [`set@${kind}`]: 1,
      [`get@${kind}`]: 1,
      [`touch@${kind}`]: 1,
      [`destroy@${kind}`]: 1,
    });
    expect(await storeErrors(metrics)).toEqual({});
  });

  it("times the revocation records' statements too", async () => {
    const { metrics, revocations } = await open();
    await revocations.revokeUser('u-revoked');
    expect((await revocations.tokenState('u-revoked', 'jti-1')).notBefore).toEqual(
      expect.any(Number),
    );
    expect(await timedStatements(metrics)).toEqual({
      [`revokeUser@${kind}`]: 1,
      [`tokenRevocation@${kind}`]: 1,
    });
  });

  it('counts a statement on a closed database as unavailable (and times it)', async () => {
    const { metrics, dataSource, store } = await open();
    await dataSource.destroy();
    await expect(store.findSession('sid-down')).rejects.toBeInstanceOf(
      SessionStoreUnavailableError,
    );
    expect(await storeErrors(metrics)).toEqual({ [`get@${kind}:unavailable`]: 1 });
    expect(await timedStatements(metrics)).toEqual({ [`get@${kind}`]: 1 });
  });

  it('counts a statement that waited out a lock another connection holds as lock_timeout', async () => {
    if (kind === 'sqlite') {
      // No retry budget: the write fails as soon as it finds the file locked.
      const { metrics, store } = await open({ busyTimeoutMs: 0 });
      const holder = await SqliteLockHolder.hold(db.url.slice('sqlite:'.length));
      try {
        await expect(
          store.saveSession('sid-locked', sessionFixture(60_000)),
        ).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      } finally {
        await holder.release();
      }
      expect(await storeErrors(metrics)).toEqual({ [`set@${kind}:lock_timeout`]: 1 });
      return;
    }
    // One pooled connection, whose lock waits end after 50 ms; the table locked elsewhere.
    const { metrics, dataSource, store } = await open({ poolSize: 1 });
    await dataSource.query('SET lock_timeout = 50');
    const locker = new pg.Client({ connectionString: TEST_PG_URL });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${db.qualifiedTable} IN ACCESS EXCLUSIVE MODE`);
      await expect(store.findSession('sid-locked')).rejects.toBeInstanceOf(
        SessionStoreUnavailableError,
      );
      await locker.query('ROLLBACK');
    } finally {
      await locker.end();
    }
    expect(await storeErrors(metrics)).toEqual({ [`get@${kind}:lock_timeout`]: 1 });
  });

  it('counts saves refused before any statement: too_large, invalid_input, by the statement they would run', async () => {
    const { metrics, store } = await open({ maxDataBytes: 1024 });
    const big = sessionFixture(60_000, { blob: 'x'.repeat(2048) });
    await expect(store.saveSession('sid-big', big)).rejects.toBeInstanceOf(SessionTooLargeError);
    // A session read from the store saves with `update`.
    await expect(store.updateSession('sid-big', big)).rejects.toBeInstanceOf(SessionTooLargeError);
    await expect(store.saveSession('sid-\0', sessionFixture(60_000))).rejects.toBeInstanceOf(
      InvalidSessionInputError,
    );
    expect(await storeErrors(metrics)).toEqual({
      [`set@${kind}:too_large`]: 1,
      [`update@${kind}:too_large`]: 1,
      [`set@${kind}:invalid_input`]: 1,
    });
    expect(await timedStatements(metrics)).toEqual({});
  });

  if (kind === 'postgres') {
    it('counts a named statement the connection lost as lost_prepared_statement', async () => {
      const { metrics, dataSource, store } = await open({ statements: 'named', poolSize: 1 });
      await store.findSession('sid-lost');
      // What a transaction pooler does: the next query lands where the statement is unknown.
      await dataSource.query('DEALLOCATE ALL');
      await expect(store.findSession('sid-lost')).rejects.toBeInstanceOf(
        SessionStoreUnavailableError,
      );
      expect(await storeErrors(metrics)).toEqual({ [`get@${kind}:lost_prepared_statement`]: 1 });
    });
  }

  describe('pruner', () => {
    /** Rows straight into the session table: `n` expiring `inMs` from now (past when < 0). */
    const insertSessions = async (prefix: string, n: number, inMs: number) => {
      for (let i = 0; i < n; i++) {
        await db.query(
          `INSERT INTO ${db.qualifiedTable} (id, data, expires_at) VALUES ($1, $2, $3)`,
          [`${prefix}-${i}`, '{}', Date.now() + inMs],
        );
      }
    };
    /** `open`, on an empty session table (it exists once `open` has migrated). */
    const openEmpty = async (overrides: Partial<SessionModuleOptions> = {}) => {
      const store = await open(overrides);
      await db.query(`DELETE FROM ${db.qualifiedTable}`);
      return store;
    };

    it('a round of N expired rows adds N to prunedRows and sets liveSessions to the live count', async () => {
      const { metrics, options, dataSource, store, revocations } = await openEmpty({
        pruneBatchSize: 2,
      });
      await insertSessions('expired', 5, -1000);
      await insertSessions('live', 3, 60_000);
      for (const jti of ['j1', 'j2']) await revocations.revokeToken(jti, Date.now() - 1000);
      await revocations.revokeToken('j-live', Date.now() + 60_000);
      const pruner = new SessionPruner(store, revocations, dataSource, options, metrics);

      expect(await pruner.pruneOnce()).toBe(5);
      expect(await metricValues(metrics.prunedRows)).toEqual({
        'table=sessions': 5,
        'table=revoked_tokens': 2,
      });
      expect(await metricValues(metrics.liveSessions)).toEqual({ [`backend=${kind}`]: 3 });
      expect(await pruneRounds(metrics)).toBe(1);
      expect(await timedStatements(metrics)).toMatchObject({ [`length@${kind}`]: 1 });

      // The next round finds nothing more to prune, and the gauge follows the table.
      await insertSessions('later', 2, 60_000);
      expect(await pruner.pruneOnce()).toBe(0);
      expect(await metricValues(metrics.prunedRows)).toEqual({
        'table=sessions': 5,
        'table=revoked_tokens': 2,
      });
      expect(await metricValues(metrics.liveSessions)).toEqual({ [`backend=${kind}`]: 5 });
    });

    if (kind === 'postgres') {
      it("a round skipped for another instance's prune lock prunes and times nothing, and still sets liveSessions", async () => {
        const { metrics, options, dataSource, store, revocations } = await openEmpty();
        await insertSessions('expired', 4, -1000);
        await insertSessions('live', 2, 60_000);
        const pruner = new SessionPruner(store, revocations, dataSource, options, metrics);
        // The other instance: the same lock, held on another connection while this round runs.
        const other = await withTransactionLock(
          dataSource,
          pruneLockKey(options.schema, options.tableName),
          'try',
          () => pruner.pruneOnce(),
        );
        expect(other).toEqual({ acquired: true, value: 0 });
        expect(await metricValues(metrics.prunedRows)).toEqual({});
        expect(await pruneRounds(metrics)).toBe(0);
        // The try is timed; a lock another instance holds is no error, and nothing commits.
        expect(await timedStatements(metrics)).toEqual({
          [`pruneLock@${kind}`]: 1,
          [`length@${kind}`]: 1,
        });
        expect(await storeErrors(metrics)).toEqual({});
        expect(await metricValues(metrics.liveSessions)).toEqual({ [`backend=${kind}`]: 2 });
      });

      it('a prune round whose lock fails counts pruneLock unavailable, and the count still runs', async () => {
        const { metrics, options, dataSource, store, revocations } = await openEmpty();
        const pruner = new SessionPruner(store, revocations, dataSource, options, metrics);
        await dataSource.destroy();
        await expect(pruner.pruneOnce()).rejects.toThrow();
        expect(await storeErrors(metrics)).toEqual({
          [`pruneLock@${kind}:unavailable`]: 1,
          [`length@${kind}:unavailable`]: 1,
        });
        expect(await timedStatements(metrics)).toEqual({
          [`pruneLock@${kind}`]: 1,
          [`length@${kind}`]: 1,
        });
      });
    }

    it('a failed prune round still counts the live sessions, is timed, and moves no last-success time', async () => {
      const { metrics, options, dataSource, store, revocations } = await openEmpty();
      const pruner = new SessionPruner(store, revocations, dataSource, options, metrics);
      await insertSessions('live', 1, 60_000);
      await pruner.pruneOnce();
      const succeeded = (await metricValues(metrics.pruneLastSuccess))[''];
      expect(succeeded).toBeGreaterThan(0);

      // The revoked-token records' table is gone: that half of the round fails, every round.
      const revokedTable = `${db.table}_revoked_tokens`;
      await db.query(
        `ALTER TABLE ${db.besideTable('revoked_tokens')} RENAME TO ${revokedTable}_away`,
      );
      try {
        await insertSessions('later', 2, 60_000);
        await expect(pruner.pruneOnce()).rejects.toThrow();
      } finally {
        await db.query(
          `ALTER TABLE ${db.besideTable('revoked_tokens_away')} RENAME TO ${revokedTable}`,
        );
      }
      expect(await metricValues(metrics.liveSessions)).toEqual({ [`backend=${kind}`]: 3 });
      expect(await pruneRounds(metrics)).toBe(2);
      expect(await storeErrors(metrics)).toEqual({ [`pruneRevokedTokens@${kind}:unavailable`]: 1 });
      expect((await metricValues(metrics.pruneLastSuccess))['']).toBe(succeeded);
    });
  });

  if (kind === 'postgres') {
    describe('session lock', () => {
      const sid = 'sid-lock-metrics';

      it('times BEGIN to held as sessionLock and its COMMIT as sessionLockCommit', async () => {
        const { metrics, dataSource, store } = await open();
        const lock = new SessionLock({
          dataSource,
          kind,
          timeoutMs: 15_000,
          maxHolders: 4,
          metrics,
        });
        await lock.run(sid, () => store.saveSession(sid, sessionFixture(60_000)));
        expect(await timedStatements(metrics)).toEqual({
          [`sessionLock@${kind}`]: 1,
          [`set@${kind}`]: 1,
          [`sessionLockCommit@${kind}`]: 1,
        });
        expect(await storeErrors(metrics)).toEqual({});
      });

      it('counts a lock another instance held past the wait as sessionLock lock_timeout', async () => {
        const { metrics, dataSource } = await open();
        const waiter = new SessionLock({ dataSource, kind, timeoutMs: 50, maxHolders: 4, metrics });
        const held = await withTransactionLock(dataSource, sessionLockKey(sid), 'try', () =>
          expect(waiter.run(sid, async () => 'never')).rejects.toBeInstanceOf(
            SessionLockTimeoutError,
          ),
        );
        expect(held.acquired).toBe(true);
        expect(await storeErrors(metrics)).toEqual({ [`sessionLock@${kind}:lock_timeout`]: 1 });
        expect(await timedStatements(metrics)).toEqual({ [`sessionLock@${kind}`]: 1 });
      });

      it('counts a lock on a closed database as sessionLock unavailable', async () => {
        const { metrics, dataSource } = await open();
        const lock = new SessionLock({
          dataSource,
          kind,
          timeoutMs: 15_000,
          maxHolders: 4,
          metrics,
        });
        await dataSource.destroy();
        await expect(lock.run(sid, async () => 'never')).rejects.toThrow();
        expect(await storeErrors(metrics)).toEqual({ [`sessionLock@${kind}:unavailable`]: 1 });
      });

      it('counts a COMMIT that failed (what the work saved is lost) as sessionLockCommit unavailable', async () => {
        const { metrics, dataSource, store } = await open();
        const lock = new SessionLock({
          dataSource,
          kind,
          timeoutMs: 15_000,
          maxHolders: 4,
          metrics,
        });
        const lost = `${sid}-lost`;
        const { sql, params } = advisoryLockRowsQuery(sessionLockKey(lost));
        await expect(
          lock.run(lost, async () => {
            await store.saveSession(lost, sessionFixture(60_000));
            // The lock's connection is lost after the save, before its COMMIT.
            const [holder] = await db.query<{ pid: number }>(sql, params);
            await db.query('SELECT pg_terminate_backend($1, 10000)', [holder.pid]);
          }),
        ).rejects.toThrow();
        expect(await storeErrors(metrics)).toEqual({
          [`sessionLockCommit@${kind}:unavailable`]: 1,
        });
        expect(await timedStatements(metrics)).toEqual({
          [`sessionLock@${kind}`]: 1,
          [`set@${kind}`]: 1,
          [`sessionLockCommit@${kind}`]: 1,
        });
        expect(await store.findSession(lost)).toBeNull();
      });
    });
  }

  it("SessionModule counts into the application's BodhiMetrics and watches its pool", async () => {
    const moduleRef = await Test.createTestingModule({
      // Cache off: its listener's first probes go over the serving pool as the app starts,
      // and one still in flight would be counted in use at random below.
      imports: [MetricsModule, SessionModule.forRoot({ ...testSessionOptions(db), cache: 'off' })],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    try {
      const metrics = app.get(BodhiMetrics);
      const service = app.get(DefaultSessionService);
      await service.getSessionStore().saveSession('sid-module', sessionFixture(60_000));
      expect(await timedStatements(metrics)).toMatchObject({ [`set@${kind}`]: 1 });

      const pool = () => metricValues(metrics.poolConnections);
      const before = await pool();
      // A session lock holds a connection of the serving pool (PostgreSQL) while its work runs.
      const during = await service.withSessionLock('sid-module', () => pool());
      const after = await pool();
      if (kind === 'postgres') {
        expect(during['state=in_use']).toBe(before['state=in_use'] + 1);
        expect(after['state=in_use']).toBe(before['state=in_use']);
        expect(during['state=idle'] + during['state=in_use']).toBeGreaterThanOrEqual(1);
        expect(during['state=waiting']).toBe(0);
      } else {
        // SQLite has no pool: nothing is watched, the gauge has no series.
        expect(during).toEqual({});
      }
    } finally {
      await app.close();
    }
  });
});
