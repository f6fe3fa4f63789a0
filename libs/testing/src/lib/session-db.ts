/**
 * The both-backends test database: a throwaway session database per suite, on SQLite or
 * the test PostgreSQL, and what store tests build on it.
 */
import { redactUrlPasswords, type SessionDbKind } from '@bodhi/services';
import {
  createSessionDataSource,
  createSessionRevocations,
  createSessionStore,
  resolveSessionOptions,
  type SessionModuleOptions,
} from '@bodhi/services/testing';
import Database from 'better-sqlite3';
import type { SessionData } from 'express-session';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import pg from 'pg';
import { tempHome } from './workspace.js';

/** Every store test runs on both: `describe.each(SESSION_BACKENDS)`. */
export const SESSION_BACKENDS: SessionDbKind[] = ['sqlite', 'postgres'];

/**
 * What docker-compose-test-deps.yml serves. scripts/test-deps.mjs, which starts it, spells it
 * out again as its DEFAULT_URL (it runs before anything is built); session-db.spec checks the
 * two agree.
 */
export const DEFAULT_TEST_PG_URL =
  'postgres://bodhi_test:bodhi_test@localhost:54320/bodhi_sessions';

/** The test PostgreSQL `env` names; an empty BODHI_TEST_PG_URL counts as unset, as in the script. */
export const testPgUrl = (env: Record<string, string | undefined>): string =>
  env.BODHI_TEST_PG_URL || DEFAULT_TEST_PG_URL;

export const TEST_PG_URL = testPgUrl(process.env);

/**
 * The PgBouncer (transaction mode, a small pool) scripts/test-deps.mjs runs in front of the
 * test PostgreSQL: BODHI_TEST_PGBOUNCER_URL, else the PostgreSQL URL one port up (the script
 * derives it the same way; session-db.spec checks the two agree). Same database, same login.
 */
export const testPgBouncerUrl = (env: Record<string, string | undefined>): string =>
  env.BODHI_TEST_PGBOUNCER_URL || withNextPort(testPgUrl(env));

function withNextPort(pgUrl: string): string {
  const url = new URL(pgUrl);
  url.port = String(Number(url.port || 5432) + 1);
  return url.href;
}

export const TEST_PGBOUNCER_URL = testPgBouncerUrl(process.env);

export const TEST_SECRET = 'test-secret-0123456789abcdef0123456789';
/** A fixed 256-bit session encryption key for tests (base64). */
export const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64');

export interface TestSessionDb {
  kind: SessionDbKind;
  url: string;
  /** PostgreSQL schema private to this suite (undefined on SQLite, which gets its own file). */
  schema?: string;
  table: string;
  /** Runs SQL on a connection of its own, bypassing the store: what a test checks against. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** The session table, qualified for raw queries. */
  qualifiedTable: string;
  /** A table named after the session table (`<table>_<suffix>`: revocation records, migrations), qualified likewise. */
  besideTable(suffix: string): string;
  drop(): Promise<void>;
}

/**
 * A private place for one suite's sessions: a new SQLite file in a temp directory, or a
 * new schema in the test PostgreSQL (so suites run in parallel without meeting). A
 * PostgreSQL that does not answer fails the suite here — it is never skipped.
 */
export async function createTestSessionDb(
  kind: SessionDbKind,
  table = 'sessions',
  pgUrl = TEST_PG_URL,
): Promise<TestSessionDb> {
  const suffix = `${process.pid}_${randomBytes(4).toString('hex')}`;
  if (kind === 'sqlite') {
    const home = tempHome('bodhi-session-test-');
    const file = path.join(home.dir, 'session.sqlite');
    let db: Database.Database | undefined;
    const open = () => (db ??= new Database(file));
    return {
      kind,
      url: `sqlite:${file}`,
      table,
      qualifiedTable: `"${table}"`,
      besideTable: (suffix) => `"${table}_${suffix}"`,
      async query<T>(sql: string, params: unknown[] = []) {
        // Tests write PostgreSQL-style $n placeholders; SQLite binds them as positional ?.
        const order: number[] = [];
        const stmt = open().prepare(
          sql.replace(/\$(\d+)/g, (_, n) => (order.push(Number(n) - 1), '?')),
        );
        const args = order.map((i) => params[i]);
        return (stmt.reader ? stmt.all(...args) : (stmt.run(...args), [])) as T[];
      },
      async drop() {
        db?.close();
        home.remove();
      },
    };
  }
  const schema = `t_${suffix}`;
  // A pool, not a client: it reconnects after the database restarts (outage tests), and its
  // error listener keeps a dropped connection from crashing the test process.
  const client = new pg.Pool({ connectionString: pgUrl, max: 2 });
  client.on('error', () => undefined);
  try {
    await client.query('SELECT 1');
  } catch (e) {
    throw new Error(
      `Test PostgreSQL is not reachable at BODHI_TEST_PG_URL (${redactUrlPasswords(pgUrl)}): ` +
        `${(e as Error).message}. Start it with "npm run test:deps:up".`,
    );
  }
  return {
    kind,
    url: pgUrl,
    schema,
    table,
    qualifiedTable: `"${schema}"."${table}"`,
    besideTable: (suffix) => `"${schema}"."${table}_${suffix}"`,
    async query<T>(sql: string, params: unknown[] = []) {
      return (await client.query(sql, params)).rows as T[];
    },
    async drop() {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  };
}

/** Session module options pointing at a test database (add overrides as needed). */
export function testSessionOptions(
  db: TestSessionDb,
  overrides: Partial<SessionModuleOptions> = {},
): SessionModuleOptions {
  return {
    url: db.url,
    schema: db.schema,
    tableName: db.table,
    secret: TEST_SECRET,
    pruneIntervalSeconds: 0,
    ...overrides,
  };
}

/**
 * A ready store on a test database, without Nest: DataSource opened and migrated, with the
 * revocation records kept beside it.
 */
export async function openTestStore(
  db: TestSessionDb,
  overrides: Partial<SessionModuleOptions> = {},
) {
  const options = resolveSessionOptions(testSessionOptions(db, overrides));
  const dataSource = await createSessionDataSource(options);
  const store = createSessionStore(dataSource, options);
  const revocations = createSessionRevocations(dataSource, options);
  return { options, dataSource, store, revocations };
}

/** A session as express-session stores it, expiring `inMs` from now. */
export function sessionFixture(inMs: number, extra: Record<string, unknown> = {}): SessionData {
  return {
    cookie: {
      originalMaxAge: inMs,
      expires: new Date(Date.now() + inMs),
      httpOnly: true,
      path: '/',
    },
    ...extra,
  } as SessionData;
}

/**
 * An encrypted session value (`enc:v1:<key>:<nonce>:<body>`) with one bit of its first body
 * byte flipped: always a real change to the ciphertext. (Swapping base64 characters is
 * not: the same character, or one differing only in a final character's unused bits,
 * decodes to the same bytes.)
 */
export function tamperEncrypted(value: string): string {
  const at = value.lastIndexOf(':') + 1;
  const body = Buffer.from(value.slice(at), 'base64url');
  body[0] ^= 0x01;
  return value.slice(0, at) + body.toString('base64url');
}
