import type { DataSource } from 'typeorm';
import { BodhiMetrics } from '../../metrics/bodhi-metrics.js';
import { sessionDialect } from '../dialects/index.js';
import { SessionStoreUnavailableError, type StoreErrorKind } from '../session.errors.js';
import type { SessionDbKind } from '../config/session-db-url.util.js';
import { Row, SessionSqlExecutor, SqlExecutorOptions } from './session-sql.executor.js';
import type { SessionTableRef } from './session-sql.js';
import type { StatementName, StatementParams, StatementSet } from './sql-statement.js';

/**
 * A set of statements (the session store's, the revocation records'), run by name with
 * their named parameters on the dialect's executor, each one measured: its time in
 * `storeOperationDuration{operation, backend}` (failed ones too: a database that stalls
 * before failing shows in the latency), and a failure in `storeErrors{operation, backend,
 * kind}`. Label values: `operation` is the statement's name in its set (`sessionStatements`:
 * get, set, update, touch, destroy, pruneBatch, …; `revocationStatements`: revokeUser,
 * tokenRevocation, …), `backend` is 'sqlite' or 'postgres', `kind` a StoreErrorKind. The
 * session store and the revocation records both run their statements through one of these,
 * so no call site measures on its own. The other statements of a served store are the
 * cross-instance locks' (BEGIN, the advisory lock, COMMIT), measured by MeasuredLock; only
 * the boot's migrations (and their lock) are not measured.
 */
export class MeasuredStatements<S extends StatementSet> {
  readonly backend: SessionDbKind;
  readonly statements: S;
  private readonly db: SessionSqlExecutor;

  /** `statements` builds the set for the table `ref` (on its dialect). */
  constructor(
    dataSource: DataSource,
    ref: SessionTableRef,
    statements: (ref: SessionTableRef) => S,
    options: SqlExecutorOptions,
    private readonly metrics: BodhiMetrics,
  ) {
    this.backend = ref.kind;
    this.statements = statements(ref);
    this.db = sessionDialect(ref.kind).executor(dataSource, options);
  }

  rows<N extends StatementName<S>>(name: N, params: StatementParams<S>[N]): Promise<Row[]> {
    const { sql, bind } = this.statements[name];
    const values = bind(params);
    return this.measured(name, () => this.db.rows(sql, values));
  }

  /** Executes a write; resolves to the number of rows it changed. */
  run<N extends StatementName<S>>(name: N, params: StatementParams<S>[N]): Promise<number> {
    const { sql, bind } = this.statements[name];
    const values = bind(params);
    return this.measured(name, () => this.db.run(sql, values));
  }

  /**
   * Counts an operation refused before its statement ran (too large, invalid input) as a
   * store error of that statement: the caller's request failed at the store all the same.
   */
  refused(name: StatementName<S>, kind: StoreErrorKind): void {
    this.metrics.storeErrors.inc({ operation: name, backend: this.backend, kind });
  }

  private async measured<T>(name: StatementName<S>, execute: () => Promise<T>): Promise<T> {
    const timer = this.metrics.storeOperation(name, this.backend);
    let result: T;
    try {
      result = await execute();
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
