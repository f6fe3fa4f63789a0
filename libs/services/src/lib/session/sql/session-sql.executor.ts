import type { SessionDbStatementMode } from '../../settings/setting.constants.js';
import { redactUrlPasswords } from '../../util/redact.util.js';
import { SessionStoreUnavailableError, type StoreFailureKind } from '../session.errors.js';

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
 * The store's SQL is fixed and tested, so a failing statement means the database failed
 * (down, locked, read-only, disk full): one error type the HTTP layer turns into 503. The
 * executor that caught it says which kind of failure it was, for the metrics.
 */
export function unavailable(
  e: unknown,
  { detail, kind = 'unavailable' }: { detail?: string; kind?: StoreFailureKind } = {},
): SessionStoreUnavailableError {
  const reason = e instanceof Error ? e.message : String(e);
  return new SessionStoreUnavailableError(
    `session store unavailable: ${redactUrlPasswords(reason)}${detail ? ` (${detail})` : ''}`,
    kind,
  );
}
