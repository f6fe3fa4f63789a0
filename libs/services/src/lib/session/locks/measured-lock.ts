import type { DataSource } from 'typeorm';
import type { BodhiMetrics, StoreOperationTimer } from '../../metrics/bodhi-metrics.js';
import { sessionDialect, type SessionDialect } from '../dialects/index.js';
import type { SessionDbKind } from '../config/session-db-url.util.js';
import type { StoreFailureKind } from '../session.errors.js';
import type { AdvisoryLockKey } from './lock-keys.js';
import type { TransactionLockOutcome, TransactionLockWait } from '../dialects/session-dialect.js';

/** The cross-instance locks the store takes while serving (the boot's migration lock is not one). */
export type LockOperation = 'sessionLock' | 'pruneLock';

type CrossProcessLock = NonNullable<SessionDialect['crossProcessLock']>;

/**
 * The dialect's cross-instance lock (PostgreSQL), its own statements measured as store
 * operations: they run on the lock's connection, outside MeasuredStatements. Timed in
 * `storeOperationDuration{operation, backend}`: `<operation>` (sessionLock, pruneLock) from
 * BEGIN until the lock is held or refused, `<operation>Commit` the COMMIT after the work
 * (for a session lock, what the work saved). Counted in `storeErrors`: a failed BEGIN or
 * lock statement as `<operation>` unavailable, a lock held elsewhere past a timed wait as
 * `<operation>` lock_timeout (a `'try'` that finds it held is no failure: another instance
 * has the work), a failed COMMIT as `<operation>Commit`. What the work itself throws is the
 * work's (its statements are measured where they run). Undefined where the in-process lock
 * is the whole lock (SQLite): no statement to measure.
 */
export class MeasuredLock {
  private constructor(
    private readonly lock: CrossProcessLock,
    private readonly failureKind: (e: unknown) => StoreFailureKind,
    private readonly kind: SessionDbKind,
    private readonly operation: LockOperation,
    private readonly metrics: BodhiMetrics,
  ) {}

  static of(
    kind: SessionDbKind,
    operation: LockOperation,
    metrics: BodhiMetrics,
  ): MeasuredLock | undefined {
    const dialect = sessionDialect(kind);
    const lock = dialect.crossProcessLock;
    const failureKind = dialect.lockFailureKind ?? (() => 'unavailable');
    return lock ? new MeasuredLock(lock, failureKind, kind, operation, metrics) : undefined;
  }

  async run<T>(
    dataSource: DataSource,
    key: AdvisoryLockKey,
    wait: TransactionLockWait,
    work: () => Promise<T>,
    how: { onLockConnection: boolean },
  ): Promise<TransactionLockOutcome<T>> {
    const acquiring = this.metrics.storeOperation(this.operation, this.kind);
    let committing: StoreOperationTimer | undefined;
    let held = false;
    let outcome: TransactionLockOutcome<T>;
    try {
      outcome = await this.lock(
        dataSource,
        key,
        wait,
        async () => {
          held = true;
          acquiring.done();
          const value = await work();
          committing = this.metrics.storeOperation(`${this.operation}Commit`, this.kind);
          return value;
        },
        how,
      );
    } catch (e) {
      // Before the lock was held: BEGIN or the lock failed; after the work: its COMMIT.
      if (!held) acquiring.failed(this.failureKind(e));
      else committing?.failed(this.failureKind(e));
      throw e;
    }
    if (!outcome.acquired) {
      if (wait === 'try') acquiring.done();
      else acquiring.failed('lock_timeout');
    }
    committing?.done();
    return outcome;
  }
}
