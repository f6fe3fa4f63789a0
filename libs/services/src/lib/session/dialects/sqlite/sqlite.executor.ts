import { Logger } from '@nestjs/common';
import type BetterSqlite3 from 'better-sqlite3';
import { Row, SessionSqlExecutor, unavailable } from '../../sql/session-sql.executor.js';

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

export class SqliteExecutor implements SessionSqlExecutor {
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
        if (!isLockedOut(e)) throw unavailable(e);
        if (this.db.inTransaction) throw unavailable(e, { kind: 'lock_timeout' });
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
          throw unavailable(e, {
            detail: `still locked after ${this.busyTimeoutMs} ms`,
            kind: 'lock_timeout',
          });
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
