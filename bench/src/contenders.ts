/**
 * The store-level contenders, each behind the express-session Store callback API (get, set,
 * touch, destroy) so they are driven alike. Each gets its own table: its own PostgreSQL
 * schema, or its own SQLite file (WAL, synchronous=NORMAL), dropped afterwards.
 */
import type { SessionDbKind } from '@bodhi/services';
import {
  createSessionDataSource,
  createSessionStore,
  resolveSessionOptions,
  type ResolvedSessionOptions,
  type SessionDbStatementMode,
  type SessionModuleOptions,
} from '@bodhi/services/testing';
import { tempHome } from '@bodhi/testing';
import Database from 'better-sqlite3';
import BetterSqlite3SessionStore from 'better-sqlite3-session-store';
import connectPgSimple from 'connect-pg-simple';
import session, { SessionData } from 'express-session';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import pg from 'pg';
import { DataSource, EntitySchema } from 'typeorm';
import { BENCH_SECRET } from './fixtures.js';
import { CtSessionRow, loadConnectTypeorm } from './deps.js';
import { onInterrupt } from './util.js';

type Cb<T = unknown> = (err?: unknown, value?: T) => void;

/** What the harness drives: the four express-session Store operations. */
export interface CallbackStore {
  get(sid: string, cb: Cb<SessionData | null | undefined>): void;
  set(sid: string, session: SessionData, cb: Cb): void;
  touch(sid: string, session: SessionData, cb: Cb): void;
  destroy(sid: string, cb: Cb): void;
}

/**
 * `variant`: shown beside ours, not a peer it is compared to: ours with another setting, or
 * the floor without a feature's cost.
 */
export type ContenderRole = 'ours' | 'variant' | 'peer' | 'raw';

export interface Contender {
  key: string;
  name: string;
  role: ContenderRole;
  store: CallbackStore;
  /** How it was set up, for the report. */
  notes: string;
  /** Empties the table (between repetitions, untimed). */
  reset(): Promise<void>;
  /** Closes connections and drops the table/schema/file. */
  close(): Promise<void>;
}

/** Every contender of one backend shares this: a scratch schema prefix or directory. */
export interface Workspace {
  kind: SessionDbKind;
  pgUrl: string;
  /** PostgreSQL: schema name prefix; SQLite: a temp directory. */
  prefix: string;
  dir: string;
  /** PostgreSQL: SQL on an admin connection of its own (bulk loads, truncation, DDL). */
  sql(text: string, params?: unknown[]): Promise<pg.QueryResult>;
  close(): Promise<void>;
}

export async function openWorkspace(kind: SessionDbKind, pgUrl: string): Promise<Workspace> {
  const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
  const scratch = tempHome(`bodhi-bench-${kind}-`);
  const { dir } = scratch;
  if (kind === 'sqlite') {
    const close = async () => {
      unregister();
      scratch.remove();
    };
    const unregister = onInterrupt(close);
    return {
      kind,
      pgUrl,
      prefix: `bench_${tag}`,
      dir,
      sql: () => Promise.reject(new Error('no SQL connection on a SQLite workspace')),
      close,
    };
  }
  const admin = new pg.Client({ connectionString: pgUrl });
  try {
    await admin.connect();
  } catch (e) {
    throw new Error(
      `PostgreSQL is not reachable at BODHI_TEST_PG_URL: ${(e as Error).message}. ` +
        'Start it with "npm run test:deps:up".',
    );
  }
  const prefix = `bench_${tag}`;
  let closing: Promise<void> | undefined;
  // Once, whoever asks first (the run's finally, or Ctrl-C).
  const close = () => (closing ??= dropAll());
  const dropAll = async () => {
    unregister();
    // Every schema this run made, even those of a contender that failed half way.
    const { rows } = await admin.query<{ nspname: string }>(
      'SELECT nspname FROM pg_namespace WHERE nspname LIKE $1',
      [`${prefix}%`],
    );
    for (const { nspname } of rows) await admin.query(`DROP SCHEMA "${nspname}" CASCADE`);
    await admin.end();
    scratch.remove();
  };
  const unregister = onInterrupt(close);
  return {
    kind,
    pgUrl,
    prefix,
    dir,
    sql: (text, params) => admin.query(text, params),
    close,
  };
}

/** Options of our store for a place in the workspace (schema on PostgreSQL, file on SQLite). */
export function oursOptions(
  ws: Workspace,
  name: string,
  extra: Pick<SessionModuleOptions, 'poolSize' | 'statements'> = {},
) {
  return resolveSessionOptions({
    url: ws.kind === 'postgres' ? ws.pgUrl : `sqlite:${path.join(ws.dir, `${name}.sqlite`)}`,
    schema: ws.kind === 'postgres' ? `${ws.prefix}_${name}` : undefined,
    tableName: 'sessions',
    secret: BENCH_SECRET,
    pruneIntervalSeconds: 0,
    ...extra,
  });
}

export function qualified(options: ResolvedSessionOptions): string {
  return options.schema ? `"${options.schema}"."${options.tableName}"` : `"${options.tableName}"`;
}

async function truncate(ws: Workspace, table: string, db?: Database.Database): Promise<void> {
  if (db) db.exec(`DELETE FROM ${table}`);
  else await ws.sql(`TRUNCATE ${table}`);
}

// ---- ours --------------------------------------------------------------------------------

export async function ours(ws: Workspace): Promise<Contender> {
  return oursContender(ws, 'ours');
}

/**
 * Ours with unnamed statements (BODHI_SESSION_DB_STATEMENTS=unnamed, for transaction
 * poolers without prepared-statement support): each statement is parsed and planned again.
 */
export async function oursUnnamed(ws: Workspace): Promise<Contender> {
  return oursContender(ws, 'ours-unnamed', 'unnamed');
}

async function oursContender(
  ws: Workspace,
  key: string,
  statements?: SessionDbStatementMode,
): Promise<Contender> {
  const options = oursOptions(ws, key.replace(/-/g, '_'), { statements });
  const dataSource = await createSessionDataSource(options);
  const store = createSessionStore(dataSource, options);
  const table = qualified(options);
  const db = sqliteHandle(dataSource);
  const setup =
    '`createSessionDataSource` + `createSessionStore` from @bodhi/services, as the app builds it';
  return {
    key,
    name: statements ? `ours, ${statements} statements` : 'ours (SessionStoreBackend)',
    role: statements ? 'variant' : 'ours',
    store,
    notes:
      ws.kind === 'postgres'
        ? `${setup} (pool 10, ${options.statements} statements, no encryption keys)`
        : `${setup} (no encryption keys)`,
    reset: () => truncate(ws, table, db),
    close: () => dataSource.destroy(),
  };
}

/** The better-sqlite3 handle under a SQLite DataSource (for untimed housekeeping). */
export function sqliteHandle(dataSource: DataSource): Database.Database | undefined {
  return dataSource.options.type === 'better-sqlite3'
    ? (dataSource.driver as unknown as { databaseConnection: Database.Database }).databaseConnection
    : undefined;
}

// ---- raw drivers: the floor --------------------------------------------------------------

/** Same SQL as our store's; `$n` placeholders become `?` on SQLite. */
function rawSql(table: string, kind: SessionDbKind) {
  const q = (sql: string) => (kind === 'sqlite' ? sql.replace(/\$\d+/g, '?') : sql);
  return {
    get: q(`SELECT data FROM ${table} WHERE id = $1 AND expires_at > $2`),
    set: q(
      `INSERT INTO ${table} (id, data, expires_at, user_id) VALUES ($1, $2, $3, $4) ` +
        'ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at, user_id = excluded.user_id',
    ),
    touch: q(`UPDATE ${table} SET expires_at = $1 WHERE id = $2 AND expires_at > $3`),
    destroy: q(`DELETE FROM ${table} WHERE id = $1`),
  };
}

const expiresOf = (s: SessionData) => {
  const ms = s.cookie?.expires ? new Date(s.cookie.expires).getTime() : NaN;
  return Number.isFinite(ms) ? ms : Date.now() + 86_400_000;
};

/**
 * The floor: what any store has to do at least — JSON.stringify / JSON.parse and one
 * prepared statement of the same SQL on the bare driver. The table is made by our
 * migrations (same columns and indexes, and on PostgreSQL the triggers that notify the
 * session caches of every UPDATE and DELETE), then our DataSource is closed.
 */
export async function raw(ws: Workspace): Promise<Contender> {
  return rawContender(ws, 'raw');
}

/**
 * The PostgreSQL floor with the notifying triggers disabled: beside `raw`, what the
 * triggers (#17) cost each write, which every store on the table pays, ours and the floor.
 */
export async function rawWithoutNotify(ws: Workspace): Promise<Contender> {
  return rawContender(ws, 'raw-no-notify');
}

async function rawContender(ws: Workspace, key: 'raw' | 'raw-no-notify'): Promise<Contender> {
  const options = oursOptions(ws, key.replace(/-/g, '_'));
  await (await createSessionDataSource(options)).destroy();
  const table = qualified(options);
  const sql = rawSql(table, ws.kind);
  if (ws.kind === 'postgres') {
    const notify = key === 'raw';
    if (!notify) await ws.sql(`ALTER TABLE ${table} DISABLE TRIGGER USER`);
    // The comparison means something only if the one has the triggers and the other none.
    const { rows } = await ws.sql(
      `SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal AND tgenabled <> 'D'`,
      [table],
    );
    if (rows[0].n > 0 !== notify)
      throw new Error(`${key}: ${rows[0].n} notifying triggers on ${table}`);
    const pool = new pg.Pool({ connectionString: ws.pgUrl, max: options.poolSize });
    const exec = (name: keyof typeof sql, values: unknown[]) =>
      pool.query({ name: `raw_${name}`, text: sql[name], values });
    const notes = `pg.Pool (max ${options.poolSize}), one named prepared statement per operation, our SQL and table`;
    return {
      key,
      name: notify ? 'raw pg (floor)' : 'raw pg, notify triggers off',
      role: notify ? 'raw' : 'variant',
      notes: notify ? notes : `${notes}, its notifying triggers disabled`,
      store: {
        get: (sid, cb) =>
          void exec('get', [sid, Date.now()]).then(
            (r) => cb(null, r.rows[0] ? JSON.parse(r.rows[0].data) : null),
            cb,
          ),
        set: (sid, s, cb) =>
          void exec('set', [sid, JSON.stringify(s), expiresOf(s), s.user_id ?? null]).then(
            () => cb(),
            cb,
          ),
        touch: (sid, s, cb) =>
          void exec('touch', [expiresOf(s), sid, Date.now()]).then(() => cb(), cb),
        destroy: (sid, cb) => void exec('destroy', [sid]).then(() => cb(), cb),
      },
      reset: () => truncate(ws, table),
      close: () => pool.end(),
    };
  }
  const db = openSqlite((options.target as { database: string }).database);
  const stmt = {
    get: db.prepare(sql.get),
    set: db.prepare(sql.set),
    touch: db.prepare(sql.touch),
    destroy: db.prepare(sql.destroy),
  };
  const guard = (cb: Cb, work: () => unknown) => {
    let value: unknown;
    try {
      value = work();
    } catch (e) {
      return cb(e);
    }
    cb(null, value);
  };
  return {
    key: 'raw',
    name: 'raw better-sqlite3 (floor)',
    role: 'raw',
    notes: 'better-sqlite3, one cached prepared statement per operation, our SQL and table',
    store: {
      get: (sid, cb) =>
        guard(cb as Cb, () => {
          const row = stmt.get.get(sid, Date.now()) as { data: string } | undefined;
          return row ? JSON.parse(row.data) : null;
        }),
      set: (sid, s, cb) =>
        guard(cb, () => stmt.set.run(sid, JSON.stringify(s), expiresOf(s), s.user_id ?? null)),
      touch: (sid, s, cb) => guard(cb, () => stmt.touch.run(expiresOf(s), sid, Date.now())),
      destroy: (sid, cb) => guard(cb, () => stmt.destroy.run(sid)),
    },
    reset: () => truncate(ws, table, db),
    close: async () => void db.close(),
  };
}

/** A SQLite connection set up like our DataSource's: WAL, synchronous=NORMAL, busy_timeout. */
export function openSqlite(file: string): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  return db;
}

// ---- peers ---------------------------------------------------------------------------------

export async function connectPgSimplePeer(ws: Workspace): Promise<Contender> {
  const schema = `${ws.prefix}_cps`;
  await ws.sql(`CREATE SCHEMA "${schema}"`);
  const pool = new pg.Pool({ connectionString: ws.pgUrl, max: 10 });
  const PgStore = connectPgSimple(session);
  const store = new PgStore({
    pool,
    schemaName: schema,
    tableName: 'session',
    createTableIfMissing: true,
    // Background pruning off, as for every contender during the store-level runs.
    pruneSessionInterval: false,
  });
  // The table is created lazily by the first query.
  await new Promise<void>((resolve, reject) =>
    store.get('warm-up', (err) => (err ? reject(err) : resolve())),
  );
  return {
    key: 'connect-pg-simple',
    name: 'connect-pg-simple',
    role: 'peer',
    notes:
      'connect-pg-simple 10 on its own pg.Pool (max 10), its own table.sql (json column), pruning off',
    store,
    reset: () => truncate(ws, `"${schema}"."session"`),
    close: async () => {
      await store.close();
      await pool.end();
    },
  };
}

/** connect-typeorm's entity, as its README defines it (EntitySchema instead of decorators). */
const CtSession = new EntitySchema<CtSessionRow>({
  name: 'CtSession',
  tableName: 'ct_session',
  columns: {
    id: { type: 'varchar', length: 255, primary: true },
    expiredAt: { type: 'bigint' },
    json: { type: 'text' },
    destroyedAt: { type: Date, deleteDate: true, nullable: true },
  },
  indices: [{ columns: ['expiredAt'] }],
});

/**
 * connect-typeorm 2.0.0 on a DataSource with our DataSource's options (same driver settings,
 * pool size, WAL, pragmas), its entity registered and its table made by TypeORM.
 * Two bugs of its Store API are evened out so the work it does is what gets timed:
 * `destroy` calls back before its soft-delete runs (the promise is dropped inside a
 * `.map` with a block body), so the bench awaits the same `repository.softDelete`; `touch`
 * calls back twice for a cookie with `expires` (an early "skip" callback, then again after
 * the UPDATE it runs anyway), so the bench waits for the second.
 */
export async function connectTypeormPeer(ws: Workspace): Promise<Contender> {
  const { TypeormStore } = loadConnectTypeorm();
  const base = oursOptions(ws, 'ct');
  // Our options as a template: borrow them from a DataSource our factory opens, then close it.
  const template = await createSessionDataSource(base);
  const templateOptions = template.options;
  await template.destroy();
  const dataSource = new DataSource({
    ...templateOptions,
    entities: [CtSession],
    migrations: [],
    migrationsRun: false,
  } as typeof templateOptions);
  await dataSource.initialize();
  await dataSource.synchronize();
  const repository = dataSource.getRepository(CtSession);
  const ct = new TypeormStore({ cleanupLimit: 0 }).connect(repository);
  const table = ws.kind === 'postgres' ? `"${base.schema}"."ct_session"` : '"ct_session"';
  const db = sqliteHandle(dataSource);
  return {
    key: 'connect-typeorm',
    name: 'connect-typeorm',
    role: 'peer',
    notes:
      "connect-typeorm 2.0.0 (its peer range says TypeORM 0.3; runs on 1.1.1) on a DataSource with our DataSource's options, README entity; destroy awaited, touch's second callback awaited (see caveats)",
    store: {
      get: (sid, cb) => ct.get(sid, cb),
      set: (sid, s, cb) => ct.set(sid, s, cb),
      touch: (sid, s, cb) => {
        let calls = 0;
        const expected = s.cookie?.expires ? 2 : 1;
        ct.touch(sid, s, (err) => {
          if (err) return cb(err);
          if (++calls === expected) cb();
        });
      },
      destroy: (sid, cb) =>
        void repository.softDelete({ id: sid }).then(
          () => cb(),
          (err: unknown) => cb(err),
        ),
    },
    reset: () => truncate(ws, table, db),
    close: () => dataSource.destroy(),
  };
}

export async function betterSqlite3SessionStorePeer(ws: Workspace): Promise<Contender> {
  const db = openSqlite(path.join(ws.dir, 'bs3ss.sqlite'));
  const SqliteStore = BetterSqlite3SessionStore(session);
  // Its expiry sweep cannot be turned off (`clear: … || true`) and its interval is never
  // unref'd or cleared: no timer here, as no contender prunes during the store-level runs.
  class NoTimerStore extends SqliteStore {
    override startInterval(): void {
      // no background sweep
    }
  }
  const store = new NoTimerStore({ client: db });
  return {
    key: 'better-sqlite3-session-store',
    name: 'better-sqlite3-session-store',
    role: 'peer',
    notes:
      'better-sqlite3-session-store 0.1.0 on a better-sqlite3 12 handle (WAL, synchronous=NORMAL), its own table; sweep timer off',
    store,
    reset: async () => void db.exec('DELETE FROM sessions'),
    close: async () => void db.close(),
  };
}

export type ContenderFactory = (ws: Workspace) => Promise<Contender>;

export const CONTENDERS: Record<SessionDbKind, ContenderFactory[]> = {
  postgres: [ours, oursUnnamed, raw, rawWithoutNotify, connectPgSimplePeer, connectTypeormPeer],
  sqlite: [ours, raw, betterSqlite3SessionStorePeer, connectTypeormPeer],
};
