import { Logger } from '@nestjs/common';
import type BetterSqlite3 from 'better-sqlite3';
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';
import {
  BODHI_SESSION_DB_STATEMENTS,
  DEFAULT_SESSION_DB_BUSY_TIMEOUT_MS,
  DEFAULT_SESSION_DB_STATEMENTS,
  type SessionDbStatementMode,
} from '../settings/setting.constants.js';
import { redactUrlPasswords } from '../util/redact.util.js';
import { SessionStoreUnavailableError } from './session.errors.js';

export type Row = Record<string, unknown>;

/**
 * Runs the store's statements on the driver the DataSource already opened, below TypeORM's
 * query runners: the store's SQL is fixed, so each statement is prepared once — a named
 * prepared statement per pooled PostgreSQL connection, a cached better-sqlite3 statement on
 * SQLite — and a store operation costs one driver call, nothing more. Behind a pooler that
 * cannot carry named statements between its clients, PostgreSQL statements go unnamed.
 */
export interface SessionSqlExecutor {
  rows(sql: string, params: unknown[]): Promise<Row[]>;
  /** Executes a write; resolves to the number of rows it changed. */
  run(sql: string, params: unknown[]): Promise<number>;
}

export interface SqlExecutorOptions {
  /**
   * How long, in ms, a SQLite statement keeps retrying while another connection holds the
   * lock it needs, before it fails as unavailable. Default DEFAULT_SESSION_DB_BUSY_TIMEOUT_MS.
   */
  busyTimeoutMs?: number;
  /** PostgreSQL: named prepared statements or unnamed ones. Default DEFAULT_SESSION_DB_STATEMENTS. */
  statements?: SessionDbStatementMode;
}

/**
 * SQLSTATEs of a named statement the server connection does not have (26000) or already
 * has (42P05): what a transaction pooler without prepared-statement support answers, since
 * each query may land on another server connection than the one that prepared it.
 */
const LOST_PREPARED_STATEMENT = new Set(['26000', '42P05']);

class PostgresExecutor implements SessionSqlExecutor {
  private readonly names = new Map<string, string>();

  constructor(
    private readonly pool: Pool,
    private readonly statements: SessionDbStatementMode,
  ) {}

  async rows(sql: string, params: unknown[]): Promise<Row[]> {
    return (await this.query(sql, params)).rows;
  }

  async run(sql: string, params: unknown[]): Promise<number> {
    return (await this.query(sql, params)).rowCount ?? 0;
  }

  private async query(sql: string, params: unknown[]) {
    try {
      return await this.pool.query(
        this.statements === 'named'
          ? { name: this.nameOf(sql), text: sql, values: params }
          : { text: sql, values: params },
      );
    } catch (e) {
      const code = (e as { code?: unknown } | null)?.code;
      throw unavailable(
        e,
        this.statements === 'named' && typeof code === 'string' && LOST_PREPARED_STATEMENT.has(code)
          ? `named prepared statements do not survive this connection's pooler; set ${BODHI_SESSION_DB_STATEMENTS}=unnamed`
          : undefined,
      );
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

/**
 * SQLite's own lock wait on the request thread's connection, once it serves requests: none.
 * better-sqlite3 is synchronous, so any wait inside SQLite (busy_timeout) stops the event
 * loop, and with it every request, for as long as another process holds the write lock. A
 * statement that finds the database locked fails at once and `SqliteExecutor` retries it
 * after a timer instead.
 */
export const SQLITE_SERVING_BUSY_TIMEOUT_MS = 0;

/** Retry delays for a locked SQLite: from a few ms, doubling, up to ~50 ms (jittered). */
const BUSY_RETRY_FIRST_DELAY_MS = 2;
const BUSY_RETRY_MAX_DELAY_MS = 50;

/**
 * SQLITE_BUSY (another connection holds the lock; extended: _RECOVERY, _SNAPSHOT, _TIMEOUT)
 * or SQLITE_LOCKED (_SHAREDCACHE, …): better-sqlite3 reports extended result codes.
 */
function isLockedOut(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)(_|$)/.test(code);
}

/**
 * What a lock-wait log line names a statement by: its verb and table ("INSERT sessions"),
 * taken from the fixed SQL text, so no parameter (session key, data, user id) reaches the log.
 */
function statementLabel(sql: string): string {
  const verb = /^\s*(\w+)/.exec(sql)?.[1] ?? 'statement';
  const table = /\b(?:INTO|FROM|UPDATE)\s+([^\s(]+)/i.exec(sql)?.[1];
  return table ? `${verb} ${table}` : verb;
}

/** Half the delay plus up to half again at random, so waiting writers do not retry in step. */
const jittered = (delayMs: number) => delayMs / 2 + (Math.random() * delayMs) / 2;

class SqliteExecutor implements SessionSqlExecutor {
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  private readonly logger = new Logger('SessionSql');

  constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly busyTimeoutMs: number,
  ) {}

  rows(sql: string, params: unknown[]): Promise<Row[]> {
    return this.retryWhileLocked(sql, () => this.prepare(sql).all(...params) as Row[]);
  }

  run(sql: string, params: unknown[]): Promise<number> {
    return this.retryWhileLocked(sql, () => {
      const stmt = this.prepare(sql);
      // A DELETE … RETURNING is a reader; its row count is what it returned.
      return stmt.reader ? stmt.all(...params).length : stmt.run(...params).changes;
    });
  }

  /**
   * Runs a statement; while the database is locked by another connection, runs it again
   * after a growing delay, the event loop free meanwhile, until busyTimeoutMs has passed.
   * A statement SQLite refused for a lock changed nothing, and outside an explicit
   * transaction it is its own transaction, so running it again is safe. Inside one (the
   * store opens none; only migrations do, at boot, with their own blocking wait) a retry
   * would split the transaction, so the error goes to the transaction's owner at once.
   * A wait is logged at debug when it starts and when it ends: it says why a request was
   * slow, and it is the signal a test waits on to know a statement is waiting for the lock.
   */
  private async retryWhileLocked<T>(sql: string, statement: () => T): Promise<T> {
    // Set at the first refusal: a statement that runs at once pays for no clock read.
    let waitedFrom: number | undefined;
    let delay = BUSY_RETRY_FIRST_DELAY_MS;
    for (;;) {
      try {
        const result = statement();
        if (waitedFrom !== undefined) this.logWait(sql, 'ran', waitedFrom);
        return result;
      } catch (e) {
        if (!isLockedOut(e) || this.db.inTransaction) throw unavailable(e);
        if (waitedFrom === undefined) {
          waitedFrom = performance.now();
          this.logger.debug(
            `${statementLabel(sql)} waits for the SQLite lock another connection holds ` +
              `(retrying for up to ${this.busyTimeoutMs} ms)`,
          );
        }
        const left = waitedFrom + this.busyTimeoutMs - performance.now();
        if (left <= 0) {
          this.logWait(sql, 'gave up', waitedFrom);
          throw unavailable(e, `still locked after ${this.busyTimeoutMs} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(jittered(delay), left)));
        delay = Math.min(delay * 2, BUSY_RETRY_MAX_DELAY_MS);
      }
    }
  }

  private logWait(sql: string, outcome: 'ran' | 'gave up', waitedFrom: number): void {
    const ms = Math.round(performance.now() - waitedFrom);
    this.logger.debug(
      `${statementLabel(sql)} ${outcome} after waiting ${ms} ms for the SQLite lock`,
    );
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
function unavailable(e: unknown, detail?: string): SessionStoreUnavailableError {
  const reason = e instanceof Error ? e.message : String(e);
  return new SessionStoreUnavailableError(
    `session store unavailable: ${redactUrlPasswords(reason)}${detail ? ` (${detail})` : ''}`,
  );
}

/** The executor for an initialized session DataSource (PostgreSQL pool or SQLite handle). */
export function createSqlExecutor(
  dataSource: DataSource,
  {
    busyTimeoutMs = DEFAULT_SESSION_DB_BUSY_TIMEOUT_MS,
    statements = DEFAULT_SESSION_DB_STATEMENTS,
  }: SqlExecutorOptions = {},
): SessionSqlExecutor {
  const { type } = dataSource.options;
  if (type === 'postgres')
    return new PostgresExecutor(
      (dataSource.driver as unknown as { master: Pool }).master,
      statements,
    );
  if (type === 'better-sqlite3') return new SqliteExecutor(sqliteHandle(dataSource), busyTimeoutMs);
  throw new Error(`unsupported session DataSource type ${type}`);
}

/** The better-sqlite3 handle a SQLite DataSource opened. */
export function sqliteHandle(dataSource: DataSource): BetterSqlite3.Database {
  return (dataSource.driver as unknown as { databaseConnection: BetterSqlite3.Database })
    .databaseConnection;
}
