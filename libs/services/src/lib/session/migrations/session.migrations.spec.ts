import type { SessionData } from 'express-session';
import pg from 'pg';
import { DataSource, type DataSourceOptions } from 'typeorm';
import {
  createTestSessionDb,
  openTestStore,
  SESSION_BACKENDS,
  sessionFixture,
  TEST_ENCRYPTION_KEY,
  TEST_PGBOUNCER_URL,
  TestSessionDb,
  testSessionOptions,
  until,
} from '@bodhi/testing';
import {
  parseEncryptionKeys,
  SessionCipher,
  SessionDecryptError,
} from '../crypto/session-cipher.js';
import {
  createSessionDataSource,
  createSessionStore,
  SessionDbUnavailableError,
} from '../store/session-data-source.factory.js';
import { resolveSessionOptions } from '../config/session.options.js';
import { advisoryLockRowsQuery } from '../dialects/postgres/transaction-lock.js';
import { SESSION_KEY_PATTERN, sessionKey } from '../store/session-key.js';
import { sessionMigrations } from './session.migrations.js';
import {
  derivedTableNames,
  migrationsTableName,
  PG_MAX_TABLE_NAME_LENGTH,
} from '../sql/table-names.js';
import { REKEY_BATCH_SIZE } from '../dialects/postgres/postgres-migration-steps.js';

const HOUR = 3_600_000;
const ALL_MIGRATIONS = [
  'CreateSessionTable1763856000000',
  'AddSessionUserId1763856000001',
  'AddRevocationTables1764547200000',
  'HashSessionIds1764547200001',
  'AddSessionCreatedAt1765152000000',
  'AddSessionDevice1765238400000',
  'AddSessionChangeNotify1766016000000',
];
/** What releases before hashed keys encrypted with: the raw session id as associated data. */
const oldCipher = new SessionCipher(parseEncryptionKeys([TEST_ENCRYPTION_KEY]));

interface LegacySession {
  sid: string;
  userId: string;
  encrypted: boolean;
  json: string;
}

describe.each(SESSION_BACKENDS)('session table migrations on %s', (kind) => {
  let db: TestSessionDb;
  const opened: DataSource[] = [];
  const open = async (overrides: Parameters<typeof openTestStore>[1] = {}) => {
    const result = await openTestStore(db, overrides);
    opened.push(result.dataSource);
    return result;
  };

  beforeEach(async () => {
    db = await createTestSessionDb(kind);
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((ds) => ds.isInitialized && ds.destroy()));
    await db.drop();
  });

  const columns = async (table = db.table): Promise<string[]> =>
    kind === 'sqlite'
      ? (await db.query<{ name: string }>(`PRAGMA table_info("${table}")`)).map((c) => c.name)
      : (
          await db.query<{ column_name: string }>(
            'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
            [db.schema, table],
          )
        ).map((c) => c.column_name);
  const indexes = async (): Promise<string[]> =>
    kind === 'sqlite'
      ? (await db.query<{ name: string }>(`PRAGMA index_list("${db.table}")`))
          .map((i) => i.name)
          .sort()
      : (
          await db.query<{ indexname: string }>(
            'SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2',
            [db.schema, db.table],
          )
        )
          .map((i) => i.indexname)
          .sort();
  const migrationNames = async () =>
    (
      await db.query<{ name: string }>(
        `SELECT name FROM ${db.besideTable('migrations')} ORDER BY id`,
      )
    ).map((m) => m.name);

  it('creates the tables, their indexes and records every migration on a fresh database', async () => {
    await open();
    expect(await columns()).toEqual([
      'id',
      'data',
      'expires_at',
      'user_id',
      'created_at',
      'last_seen_at',
      'user_agent',
      'client_address',
    ]);
    expect(await indexes()).toEqual(
      expect.arrayContaining([`${db.table}_expires_at_idx`, `${db.table}_user_id_idx`]),
    );
    expect(await columns(`${db.table}_user_revocations`)).toEqual(['user_id', 'not_before']);
    expect(await columns(`${db.table}_revoked_tokens`)).toEqual(['jti', 'expires_at']);
    expect(await columns(`${db.table}_revocation_queue`)).toEqual([
      'id',
      'kind',
      'subject',
      'attempts',
      'next_attempt_at',
      'give_up_at',
    ]);
    expect(await migrationNames()).toEqual(ALL_MIGRATIONS);
  });

  it(`makes every object it names after the table, each its own, from the longest name allowed (${PG_MAX_TABLE_NAME_LENGTH} characters)`, async () => {
    // PostgreSQL cuts a longer identifier to 63 bytes: from a longer name, two derived names
    // came out the same and one object (an index) was silently never made.
    const table = `sessions_${'x'.repeat(PG_MAX_TABLE_NAME_LENGTH - 'sessions_'.length)}`;
    await db.drop();
    db = await createTestSessionDb(kind, table);
    await open();
    const names = [table, ...derivedTableNames(table)];
    const existing =
      kind === 'sqlite'
        ? await db.query<{ name: string }>('SELECT name FROM sqlite_master')
        : await db.query<{ name: string }>(
            'SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1',
            [db.schema],
          );
    expect(new Set(names).size).toBe(names.length);
    expect(names.filter((name) => !existing.some((e) => e.name === name))).toEqual([]);
  });

  it('runs again as a no-op and keeps the data', async () => {
    const first = await open();
    await first.store.saveSession('kept', sessionFixture(60_000, { user_id: 'u' }));
    await first.dataSource.destroy();
    const second = await open();
    expect(await second.store.findSession('kept')).toMatchObject({ user_id: 'u' });
    expect(await migrationNames()).toEqual(ALL_MIGRATIONS);
  });

  it('upgrades a table made by an older release without user_id, in place', async () => {
    if (kind === 'postgres') await db.query(`CREATE SCHEMA "${db.schema}"`);
    await db.query(
      `CREATE TABLE ${db.qualifiedTable} (id text PRIMARY KEY, data text NOT NULL, expires_at bigint NOT NULL)`,
    );
    const old = sessionFixture(60_000, { user_id: 'legacy' });
    await db.query(`INSERT INTO ${db.qualifiedTable} (id, data, expires_at) VALUES ($1, $2, $3)`, [
      'old-sid',
      JSON.stringify(old),
      Date.now() + 60_000,
    ]);
    const { store } = await open();
    expect(await columns()).toContain('user_id');
    expect(await indexes()).toContain(`${db.table}_user_id_idx`);
    expect(await store.findSession('old-sid')).toMatchObject({ user_id: 'legacy' });
    // The next save of the old session fills its user_id.
    await store.saveSession('old-sid', old);
    expect(await store.sessionKeysForUser('legacy')).toEqual([sessionKey('old-sid')]);
  });

  it('lets two instances start at once on the same database', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    await a.store.saveSession('from-a', sessionFixture(60_000));
    expect(await b.store.findSession('from-a')).not.toBeNull();
    expect(await migrationNames()).toEqual(ALL_MIGRATIONS);
  });

  // Through a transaction pooler too: what each instance does lands on whichever server
  // connection the pooler picks, so only a lock held by the migrating transaction holds.
  const connections: [string, Parameters<typeof openTestStore>[1]][] =
    kind === 'postgres'
      ? [
          ['directly', {}],
          ['through PgBouncer', { url: TEST_PGBOUNCER_URL, statements: 'unnamed' }],
        ]
      : [['directly', {}]];
  it.each(connections)(
    'lets three instances boot on a fresh database at the same moment, 5 times (%s): all come up, each migration recorded once',
    async (_, via) => {
      for (let round = 0; round < 5; round++) {
        // A fresh database each round (this test's own db stays unused).
        const fresh = await createTestSessionDb(kind);
        // Every boot settles before anything is checked or cleaned up.
        const boots = await Promise.allSettled([0, 1, 2].map(() => openTestStore(fresh, via)));
        try {
          expect(boots.map((b) => (b.status === 'fulfilled' ? 'up' : String(b.reason)))).toEqual([
            'up',
            'up',
            'up',
          ]);
          const instances = boots.flatMap((b) => (b.status === 'fulfilled' ? [b.value] : []));
          const recorded = await fresh.query<{ name: string }>(
            `SELECT name FROM ${fresh.besideTable('migrations')} ORDER BY id`,
          );
          expect(recorded.map((m) => m.name)).toEqual(ALL_MIGRATIONS);
          await instances[0].store.saveSession(`round-${round}`, sessionFixture(60_000));
          for (const { store } of instances) {
            expect(await store.findSession(`round-${round}`)).not.toBeNull();
          }
        } finally {
          await Promise.all(
            boots.flatMap((b) => (b.status === 'fulfilled' ? [b.value.dataSource.destroy()] : [])),
          );
          await fresh.drop();
        }
      }
    },
  );

  // ---- the migration lock and the one migration transaction (PostgreSQL) ---------------

  (kind === 'postgres' ? describe : describe.skip)('the migration lock', () => {
    const migrationLockKey = () => `bodhi-session-migrate:${db.schema}.${db.table}`;
    const migrationLockRows = () => {
      const { sql, params } = advisoryLockRowsQuery(migrationLockKey());
      return db.query<{ pid: number; granted: boolean }>(sql, params);
    };
    afterEach(async () => {
      // No boot, failed or not, leaves the migration lock behind.
      expect(await migrationLockRows()).toEqual([]);
    });

    /** Another instance in the middle of migrating: its open transaction holds the lock. */
    const holdMigrationLock = async () => {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [migrationLockKey()]);
      return {
        commit: async () => {
          await client.query('COMMIT');
          await client.end();
        },
      };
    };
    const boot = (overrides = {}, migrationLockTimeoutMs?: number) =>
      createSessionDataSource(resolveSessionOptions(testSessionOptions(db, overrides)), undefined, {
        migrationLockTimeoutMs,
      }).then((ds) => (opened.push(ds), ds));
    const schemaExists = async () =>
      (await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [db.schema])).length > 0;

    it('fails a boot whose wait for the migration lock times out, with a clear error and nothing migrated', async () => {
      const other = await holdMigrationLock();
      try {
        const failed = boot({}, 200);
        await expect(failed).rejects.toThrow(SessionDbUnavailableError);
        await expect(failed).rejects.toThrow(
          /Cannot migrate session database \(PostgreSQL .*\): another instance has held the migration lock for 200 ms/,
        );
        // It never got in: the schema is made under the lock.
        expect(await schemaExists()).toBe(false);
        expect(await migrationLockRows()).toEqual([{ pid: expect.any(Number), granted: true }]);
      } finally {
        await other.commit();
      }
      // Once the holder is done, a boot goes through.
      await boot({}, 200);
      expect(await migrationNames()).toEqual(ALL_MIGRATIONS);
    });

    it("waits for the migration lock while another instance's transaction holds it, and migrates at its COMMIT", async () => {
      const other = await holdMigrationLock();
      const booting = boot();
      await until(async () => (await migrationLockRows()).some((row) => !row.granted));
      expect(await schemaExists()).toBe(false);
      await other.commit();
      const ds = await booting;
      expect(await migrationNames()).toEqual(ALL_MIGRATIONS);
      expect(await ds.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    });

    it('runs every migration in one transaction: a failing one leaves nothing, not even the migrations table', async () => {
      // v3 cannot index a view standing where its table goes: the boot fails there, after
      // v1 and v2 have run.
      await db.query(`CREATE SCHEMA "${db.schema}"`);
      await db.query(`CREATE VIEW ${db.besideTable('revoked_tokens')} AS SELECT 'x'::text AS jti`);
      await expect(boot()).rejects.toThrow(/Cannot migrate session database/);
      const tables = await db.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'`,
        [db.schema],
      );
      expect(tables).toEqual([]);
    });

    /** The test database's URL with these changes (another login, port or query string). */
    const urlWith = (change: (url: URL) => void) => {
      const url = new URL(db.url);
      change(url);
      return url.href;
    };

    it('migrates over BODHI_SESSION_DB_MIGRATION_URL when set: a connection of its own, closed afterwards; the serving one does not migrate', async () => {
      const app = `bodhi-migrate-${db.schema}`;
      const migrationUrl = urlWith((u) => u.searchParams.set('application_name', app));
      const other = await holdMigrationLock();
      const booting = boot({ migrationUrl });
      // The one waiter for the lock is the migration URL's connection.
      await until(async () => (await migrationLockRows()).some((row) => !row.granted));
      const waiters = (await migrationLockRows()).filter((row) => !row.granted);
      expect(waiters).toHaveLength(1);
      const [waiter] = await db.query<{ application_name: string }>(
        'SELECT application_name FROM pg_stat_activity WHERE pid = $1',
        [waiters[0].pid],
      );
      expect(waiter.application_name).toBe(app);
      await other.commit();

      const ds = await booting;
      expect(await migrationNames()).toEqual(ALL_MIGRATIONS);
      await until(
        async () =>
          (await db.query('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [app]))
            .length === 0,
      );
      const store = createSessionStore(ds, resolveSessionOptions(testSessionOptions(db)));
      await store.saveSession('served', sessionFixture(60_000));
      expect(await store.findSession('served')).not.toBeNull();
    });

    it('names the migration URL when it fails, and never its password', async () => {
      const password = 'migration-url-password';
      // Nothing listens on port 1.
      const migrationUrl = urlWith((u) => {
        u.password = password;
        u.port = '1';
      });
      const failed = boot({ migrationUrl });
      await expect(failed).rejects.toThrow(
        /Cannot migrate session database \(PostgreSQL .*\): over the migration URL \(PostgreSQL localhost:1\/.*\)/,
      );
      await expect(failed).rejects.not.toThrow(password);
    });
  });

  // ---- re-keying the rows of the release before hashed keys (v4) ------------------------

  /**
   * The database as an earlier release left it: its `migrations` run (by TypeORM, as that
   * release ran them), so the migrations table records those only. Default: the release
   * before hashed keys (two migrations).
   */
  const previousRelease = async (migrations = 2): Promise<void> => {
    if (kind === 'postgres') await db.query(`CREATE SCHEMA IF NOT EXISTS "${db.schema}"`);
    const ref = { kind, table: db.table, schema: db.schema };
    const common = {
      migrations: sessionMigrations(ref).slice(0, migrations),
      migrationsTableName: migrationsTableName(db.table),
      logging: false,
    };
    const ds = new DataSource(
      (kind === 'sqlite'
        ? { ...common, type: 'better-sqlite3', database: db.url.slice('sqlite:'.length) }
        : { ...common, type: 'postgres', url: db.url, schema: db.schema }) as DataSourceOptions,
    );
    await ds.initialize();
    try {
      // As that release ran them: one transaction per migration.
      await ds.runMigrations({ transaction: 'each' });
    } finally {
      await ds.destroy();
    }
    expect(await migrationNames()).toEqual(ALL_MIGRATIONS.slice(0, migrations));
  };

  /**
   * `count` rows as the previous release wrote them: keyed by the raw session id, every
   * other one encrypted with that id as associated data, the rest plain JSON.
   */
  const legacyRows = async (count: number, prefix = 'legacy-sid'): Promise<LegacySession[]> => {
    const sessions = Array.from({ length: count }, (_, i): LegacySession => {
      const sid = i === 0 ? `${prefix}-ユーザー-0` : `${prefix}-${i}`;
      const userId = `legacy-user-${i % 7}`;
      const json = JSON.stringify(sessionFixture(HOUR, { user_id: userId, n: i }));
      return { sid, userId, encrypted: i % 2 === 1, json };
    });
    const expires = Date.now() + HOUR;
    for (let at = 0; at < count; at += 200) {
      const chunk = sessions.slice(at, at + 200);
      const values = chunk
        .map((_, j) => `($${j * 4 + 1}, $${j * 4 + 2}, $${j * 4 + 3}, $${j * 4 + 4})`)
        .join(', ');
      await db.query(
        `INSERT INTO ${db.qualifiedTable} (id, data, expires_at, user_id) VALUES ${values}`,
        chunk.flatMap((s) => [
          s.sid,
          s.encrypted ? oldCipher.encrypt(s.sid, s.json) : s.json,
          expires,
          s.userId,
        ]),
      );
    }
    return sessions;
  };

  type RawRow = { id: string; data: string; expires_at: string | number; user_id: string | null };
  const rawRows = async (): Promise<RawRow[]> =>
    db.query<RawRow>(`SELECT id, data, expires_at, user_id FROM ${db.qualifiedTable} ORDER BY id`);
  const rowIds = async (): Promise<string[]> => (await rawRows()).map((r) => r.id);
  const keysOf = (sessions: LegacySession[]) => sessions.map((s) => sessionKey(s.sid)).sort();

  it('re-keys the rows of the previous release in place: hashed ids, every session still found', async () => {
    await previousRelease();
    const sessions = await legacyRows(12);
    const before = new Map((await rawRows()).map((r) => [r.id, r]));
    const { store } = await open({ encryptionKeys: [TEST_ENCRYPTION_KEY] });

    expect(await migrationNames()).toEqual(ALL_MIGRATIONS);
    const after = await rawRows();
    expect(after.map((r) => r.id)).toEqual(keysOf(sessions));
    for (const r of after) expect(r.id).toMatch(new RegExp(SESSION_KEY_PATTERN));
    // In place: data, expiry and user id of each row are what the old release wrote.
    for (const s of sessions) {
      const was = before.get(s.sid) as RawRow;
      const now = after.find((r) => r.id === sessionKey(s.sid)) as RawRow;
      expect([now.data, Number(now.expires_at), now.user_id]).toEqual([
        was.data,
        Number(was.expires_at),
        was.user_id,
      ]);
    }
    // Every session is found by its id, those encrypted with the raw id as well.
    expect(sessions.filter((s) => s.encrypted).length).toBeGreaterThan(0);
    for (const s of sessions) {
      expect(await store.findSession(s.sid)).toMatchObject({
        user_id: s.userId,
        n: sessions.indexOf(s),
      });
    }
    // No session id is left anywhere in the table.
    expect(JSON.stringify(after)).not.toContain('legacy-sid');
    expect(await store.sessionKeysForUser('legacy-user-0')).toEqual(
      keysOf(sessions.filter((s) => s.userId === 'legacy-user-0')),
    );
  });

  it(`re-keys more rows than one batch (${REKEY_BATCH_SIZE})`, async () => {
    const count = Math.floor(2.5 * REKEY_BATCH_SIZE);
    await previousRelease();
    const sessions = await legacyRows(count);
    const { store } = await open({ encryptionKeys: [TEST_ENCRYPTION_KEY] });
    const ids = await rowIds();
    expect(ids).toHaveLength(count);
    expect(ids).toEqual(keysOf(sessions));
    for (const s of [sessions[0], sessions[1], sessions[count - 2], sessions[count - 1]]) {
      expect(await store.findSession(s.sid)).toMatchObject({ user_id: s.userId });
    }
  });

  // SQLite re-keys in one statement, under the write lock no other process can take.
  (kind === 'postgres' ? it : it.skip)(
    're-keys every row though one of a batch is deleted meanwhile (a logout on a previous-release instance)',
    async () => {
      const count = Math.floor(2.5 * REKEY_BATCH_SIZE);
      await previousRelease();
      const sessions = await legacyRows(count);
      // Another instance's logout, caught in the middle: it holds the row of the first batch
      // while the re-key reaches it, and deletes it before committing.
      const victim = [...sessions].sort((x, y) => (x.sid < y.sid ? -1 : 1))[0];
      const other = new pg.Client({ connectionString: db.url });
      await other.connect();
      try {
        await other.query('BEGIN');
        await other.query(`SELECT 1 FROM ${db.qualifiedTable} WHERE id = $1 FOR UPDATE`, [
          victim.sid,
        ]);
        const opening = open({ encryptionKeys: [TEST_ENCRYPTION_KEY] });
        // The re-key's UPDATE waits on that row lock: the signal PostgreSQL itself gives.
        await until(async () => {
          const [{ n }] = await db.query<{ n: string }>(
            "SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'",
          );
          return Number(n) > 0;
        });
        await other.query(`DELETE FROM ${db.qualifiedTable} WHERE id = $1`, [victim.sid]);
        await other.query('COMMIT');
        await opening;
      } finally {
        await other.end();
      }
      const rest = sessions.filter((s) => s !== victim);
      expect(await rowIds()).toEqual(keysOf(rest));
    },
  );

  it('re-keying twice changes nothing: on reopen, and when the run is repeated after an interruption', async () => {
    await previousRelease();
    const sessions = await legacyRows(20);
    const first = await open({ encryptionKeys: [TEST_ENCRYPTION_KEY] });
    const upgraded = await rawRows();
    expect(upgraded.map((r) => r.id)).toEqual(keysOf(sessions));
    await first.dataSource.destroy();

    const second = await open({ encryptionKeys: [TEST_ENCRYPTION_KEY] });
    expect(await rawRows()).toEqual(upgraded);
    expect(await migrationNames()).toEqual(ALL_MIGRATIONS);
    await second.dataSource.destroy();

    // A run that re-keyed every row but was not recorded (the process stopped before
    // TypeORM wrote the record): the next start runs v4 again, and leaves hashed keys be.
    await db.query(`DELETE FROM ${db.besideTable('migrations')} WHERE name = $1`, [
      'HashSessionIds1764547200001',
    ]);
    const again = await open({ encryptionKeys: [TEST_ENCRYPTION_KEY] });
    // Recorded again (after v5, which had run).
    expect((await migrationNames()).sort()).toEqual([...ALL_MIGRATIONS].sort());
    expect(await rawRows()).toEqual(upgraded);
    for (const s of sessions) {
      expect(await again.store.findSession(s.sid)).toMatchObject({ user_id: s.userId });
    }
  });

  it('lets two instances upgrade a previous-release table at once; the migration is recorded once', async () => {
    await previousRelease();
    const sessions = await legacyRows(30);
    const [a, b] = await Promise.all([
      open({ encryptionKeys: [TEST_ENCRYPTION_KEY] }),
      open({ encryptionKeys: [TEST_ENCRYPTION_KEY] }),
    ]);
    expect(await migrationNames()).toEqual(ALL_MIGRATIONS);
    expect(await rowIds()).toEqual(keysOf(sessions));
    for (const s of sessions) {
      expect(await a.store.findSession(s.sid)).toMatchObject({ user_id: s.userId });
      expect(await b.store.findSession(s.sid)).toMatchObject({ user_id: s.userId });
    }
  });

  it('encrypts what is saved after the upgrade with the key as associated data, old rows included', async () => {
    await previousRelease();
    const [plainOld, encryptedOld] = await legacyRows(2);
    expect(encryptedOld.encrypted).toBe(true);
    const { store } = await open({ encryptionKeys: [TEST_ENCRYPTION_KEY] });
    const stored = async (sid: string) =>
      (
        await db.query<{ data: string }>(`SELECT data FROM ${db.qualifiedTable} WHERE id = $1`, [
          sessionKey(sid),
        ])
      )[0].data;

    await store.saveSession('new-sid', sessionFixture(HOUR, { user_id: 'fresh' }));
    for (const old of [plainOld, encryptedOld]) {
      const session = await store.findSession(old.sid);
      await store.saveSession(old.sid, session as NonNullable<typeof session>);
    }
    for (const sid of ['new-sid', plainOld.sid, encryptedOld.sid]) {
      const data = await stored(sid);
      expect(data).toMatch(/^enc:v1:/);
      expect(JSON.parse(oldCipher.decrypt(sessionKey(sid), data))).toHaveProperty('user_id');
      expect(() => oldCipher.decrypt(sid, data)).toThrow(SessionDecryptError);
    }
  });

  // ---- the creation time (v5) ----------------------------------------------------------

  it('v5 on a database made by v4: adds created_at, NULL on the rows v4 wrote; their first save stamps it and caps their expiry', async () => {
    await previousRelease(4);
    // Rows as v4 writes them: keyed by hash, no creation time.
    const expires = Date.now() + HOUR;
    for (const sid of ['old-a', 'old-b']) {
      await db.query(
        `INSERT INTO ${db.qualifiedTable} (id, data, expires_at, user_id) VALUES ($1, $2, $3, $4)`,
        [sessionKey(sid), JSON.stringify(sessionFixture(HOUR, { user_id: sid })), expires, sid],
      );
    }
    const { store } = await open({ maxLifetimeSeconds: 2 * 3600 });
    expect(await migrationNames()).toEqual(ALL_MIGRATIONS);
    const row = async (sid: string) =>
      (
        await db.query<{ expires_at: string | number; created_at: string | number | null }>(
          `SELECT expires_at, created_at FROM ${db.qualifiedTable} WHERE id = $1`,
          [sessionKey(sid)],
        )
      )[0];
    // In place: when they began is not known, so nothing is made up.
    for (const sid of ['old-a', 'old-b']) {
      expect(await row(sid)).toEqual({ expires_at: expect.anything(), created_at: null });
      expect(Number((await row(sid)).expires_at)).toBe(expires);
    }

    // The first save after the upgrade starts the lifetime: its time, plus 2 hours at most.
    const loaded = (await store.findSession('old-a')) as SessionData;
    expect(loaded).toMatchObject({ user_id: 'old-a' });
    loaded.cookie.expires = new Date(Date.now() + 10 * HOUR);
    const before = Date.now();
    expect(await store.saveSession('old-a', loaded)).toBe(true);
    const stamped = await row('old-a');
    expect(Number(stamped.created_at)).toBeGreaterThanOrEqual(before);
    expect(Number(stamped.created_at)).toBeLessThanOrEqual(Date.now());
    expect(Number(stamped.expires_at)).toBe(Number(stamped.created_at) + 2 * HOUR);
    expect((await row('old-b')).created_at).toBeNull();
  });

  // ---- the device columns (v6) ---------------------------------------------------------

  it("v6 on a database made by v5: adds the device columns, NULL on v5's rows, which are listed and filled by their next write", async () => {
    await previousRelease(5);
    const created = Date.now() - 60_000;
    for (const [sid, offset] of [
      ['v5-a', 0],
      ['v5-b', 1000],
    ] as const) {
      await db.query(
        `INSERT INTO ${db.qualifiedTable} (id, data, expires_at, user_id, created_at) VALUES ($1, $2, $3, $4, $5)`,
        [
          sessionKey(sid),
          JSON.stringify(sessionFixture(HOUR, { user_id: 'u' })),
          Date.now() + HOUR,
          'u',
          created + offset,
        ],
      );
    }
    const { store } = await open({ touchAfterSeconds: 0 });
    expect(await migrationNames()).toEqual(ALL_MIGRATIONS);
    expect(await store.listForUser('u')).toEqual(
      ['v5-b', 'v5-a'].map((sid, i) =>
        expect.objectContaining({
          handle: sessionKey(sid),
          createdAt: created + 1000 - i * 1000,
          lastSeenAt: null,
          userAgent: null,
          clientAddress: null,
          browser: null,
        }),
      ),
    );
    // The next write of a row (a touch here) sets when it was last seen.
    const loaded = (await store.findSession('v5-a')) as SessionData;
    const before = Date.now();
    expect(await store.touchSession('v5-a', loaded)).toBe(true);
    const [listed] = (await store.listForUser('u')).filter((s) => s.handle === sessionKey('v5-a'));
    expect(listed.lastSeenAt).toBeGreaterThanOrEqual(before);
    expect(listed.createdAt).toBe(created);
  });
});
