import type BetterSqlite3 from 'better-sqlite3';
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';
import { redactUrlPasswords } from '../util/redact.util.js';
import { SessionStoreUnavailableError } from './session.errors.js';

export type Row = Record<string, unknown>;

/**
 * Runs the store's statements on the driver the DataSource already opened, below TypeORM's
 * query runners: the store's SQL is fixed, so each statement is prepared once — a named
 * prepared statement per pooled PostgreSQL connection, a cached better-sqlite3 statement on
 * SQLite — and a store operation costs one driver call, nothing more.
 */
export interface SessionSqlExecutor {
  rows(sql: string, params: unknown[]): Promise<Row[]>;
  /** Executes a write; resolves to the number of rows it changed. */
  run(sql: string, params: unknown[]): Promise<number>;
}

class PostgresExecutor implements SessionSqlExecutor {
  private readonly names = new Map<string, string>();

  constructor(private readonly pool: Pool) {}

  async rows(sql: string, params: unknown[]): Promise<Row[]> {
    return (await this.query(sql, params)).rows;
  }

  async run(sql: string, params: unknown[]): Promise<number> {
    return (await this.query(sql, params)).rowCount ?? 0;
  }

  private async query(sql: string, params: unknown[]) {
    try {
      return await this.pool.query({ name: this.nameOf(sql), text: sql, values: params });
    } catch (e) {
      throw unavailable(e);
    }
  }

  /** A stable statement name per SQL text (pg prepares it once per connection). */
  private nameOf(sql: string): string {
    let name = this.names.get(sql);
    if (!name) {
      name = `bodhi_${createHash('sha1').update(sql).digest('hex').slice(0, 16)}`;
      this.names.set(sql, name);
    }
    return name;
  }
}

class SqliteExecutor implements SessionSqlExecutor {
  private readonly statements = new Map<string, BetterSqlite3.Statement>();

  constructor(private readonly db: BetterSqlite3.Database) {}

  async rows(sql: string, params: unknown[]): Promise<Row[]> {
    try {
      return this.prepare(sql).all(...params) as Row[];
    } catch (e) {
      throw unavailable(e);
    }
  }

  async run(sql: string, params: unknown[]): Promise<number> {
    try {
      const stmt = this.prepare(sql);
      // A DELETE … RETURNING is a reader; its row count is what it returned.
      return stmt.reader ? stmt.all(...params).length : stmt.run(...params).changes;
    } catch (e) {
      throw unavailable(e);
    }
  }

  private prepare(sql: string): BetterSqlite3.Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }
}

/**
 * The store's SQL is fixed and tested, so a failing statement means the database failed
 * (down, locked, read-only, disk full): one error type the HTTP layer turns into 503.
 */
function unavailable(e: unknown): SessionStoreUnavailableError {
  const reason = e instanceof Error ? e.message : String(e);
  return new SessionStoreUnavailableError(
    `session store unavailable: ${redactUrlPasswords(reason)}`,
  );
}

/** The executor for an initialized session DataSource (PostgreSQL pool or SQLite handle). */
export function createSqlExecutor(dataSource: DataSource): SessionSqlExecutor {
  const { type } = dataSource.options;
  if (type === 'postgres')
    return new PostgresExecutor((dataSource.driver as unknown as { master: Pool }).master);
  if (type === 'better-sqlite3') return new SqliteExecutor(sqliteHandle(dataSource));
  throw new Error(`unsupported session DataSource type ${type}`);
}

/** The better-sqlite3 handle a SQLite DataSource opened. */
export function sqliteHandle(dataSource: DataSource): BetterSqlite3.Database {
  return (dataSource.driver as unknown as { databaseConnection: BetterSqlite3.Database })
    .databaseConnection;
}
