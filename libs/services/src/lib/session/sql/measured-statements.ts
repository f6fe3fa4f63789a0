import type { DataSource } from 'typeorm';
import { BodhiMetrics } from '../../metrics/bodhi-metrics.js';
import { sessionDialect } from '../dialects/index.js';
import { SessionStoreUnavailableError, type StoreErrorKind } from '../session.errors.js';
import type { SessionDbKind } from '../config/session-db-url.util.js';
import { Row, SessionSqlExecutor, SqlExecutorOptions } from './session-sql.executor.js';
import { sessionStatements, SessionStatements, SessionTableRef } from './session-sql.js';

/** A statement of `sessionStatements` by its name: the `operation` label of the store metrics. */
export type StatementName = keyof SessionStatements;

/**
 * The store's statements, run by name on the dialect's executor, each one measured: its
 * time in `storeOperationDuration{operation, backend}` (failed ones too: a database that
 * stalls before failing shows in the latency), and a failure in
 * `storeErrors{operation, backend, kind}`. Label values: `operation` is the statement's name
 * in `sessionStatements` (get, set, update, touch, destroy, pruneBatch, revokeUser,
 * tokenRevocation, …), `backend` is 'sqlite' or 'postgres', `kind` a StoreErrorKind. The
 * session store and the revocation records both run their statements through one of these,
 * so no call site measures on its own. The other statements of a served store are the
 * cross-instance locks' (BEGIN, the advisory lock, COMMIT), measured by MeasuredLock; only
 * the boot's migrations (and their lock) are not measured.
 */
export class MeasuredStatements {
  readonly backend: SessionDbKind;
  private readonly sql: SessionStatements;
  private readonly db: SessionSqlExecutor;

  constructor(
    dataSource: DataSource,
    ref: SessionTableRef,
    options: SqlExecutorOptions,
    private readonly metrics: BodhiMetrics,
  ) {
    this.backend = ref.kind;
    this.sql = sessionStatements(ref);
    this.db = sessionDialect(ref.kind).executor(dataSource, options);
  }

  rows(name: StatementName, params: unknown[]): Promise<Row[]> {
    return this.measured(name, (sql) => this.db.rows(sql, params));
  }

  /** Executes a write; resolves to the number of rows it changed. */
  run(name: StatementName, params: unknown[]): Promise<number> {
    return this.measured(name, (sql) => this.db.run(sql, params));
  }

  /**
   * Counts an operation refused before its statement ran (too large, invalid input) as a
   * store error of that statement: the caller's request failed at the store all the same.
   */
  refused(name: StatementName, kind: StoreErrorKind): void {
    this.metrics.storeErrors.inc({ operation: name, backend: this.backend, kind });
  }

  private async measured<T>(name: StatementName, execute: (sql: string) => Promise<T>): Promise<T> {
    const timer = this.metrics.storeOperation(name, this.backend);
    let result: T;
    try {
      result = await execute(this.sql[name]);
    } catch (e) {
      // The executors throw SessionStoreUnavailableError for every driver error; anything
      // else failing a statement is the database's failure all the same.
      timer.failed(e instanceof SessionStoreUnavailableError ? e.kind : 'unavailable');
      throw e;
    }
    timer.done();
    return result;
  }
}
