import type { DataSource, QueryRunner } from 'typeorm';
import type { AdvisoryLockKey } from '../../locks/lock-keys.js';
import type { TransactionLockOutcome, TransactionLockWait } from '../session-dialect.js';

/**
 * Whether `e` is PostgreSQL's SQLSTATE lock_not_available (55P03): a lock wait reached
 * `lock_timeout`. pg's errors carry the code; TypeORM's QueryFailedError carries it too, and
 * its driver error under `driverError`.
 */
export function isLockNotAvailable(e: unknown): boolean {
  const error = e as { code?: unknown; driverError?: { code?: unknown } } | null;
  return error?.code === '55P03' || error?.driverError?.code === '55P03';
}

const keySql = (key: AdvisoryLockKey) =>
  typeof key === 'string'
    ? { args: '(hashtext($1))', params: [key] }
    : { args: '($1, hashtext($2))', params: [key[0], key[1]] };

/**
 * Runs `work` while this process holds the advisory lock `key`, taken inside a transaction
 * of its own on a connection of its own, and ends that transaction afterwards: COMMIT when
 * the work returned, ROLLBACK when it threw (the work's error is rethrown) or the lock was
 * not acquired. The work may take other connections from the pool as usual (their statements
 * commit on their own), or use the given runner for what must happen inside the lock's
 * transaction (migrations). A COMMIT that fails is thrown: what the work did on the runner
 * is then not committed.
 *
 * Why transaction-scoped: a transaction pins one server connection even behind a transaction
 * pooler (PgBouncer, pool_mode = transaction), and the lock ends with the transaction — at
 * commit, at rollback, or when the connection is lost (a crashed instance leaks nothing). A
 * session-level lock would belong to whichever server connection the pooler picked for that
 * statement: shared with other instances, unlocked elsewhere, leaked on idle connections.
 *
 * A waiter waits in the server (`lock_timeout`), so it is woken the moment the holder's
 * transaction ends. While the work runs, the lock's transaction is idle in transaction; at
 * READ COMMITTED a transaction holds no snapshot between statements, and one that has only
 * taken a lock has no transaction id, so a long hold does not stop vacuum.
 *
 * The runner is always given back; as broken (the pool closes it) when COMMIT or ROLLBACK
 * failed, as a connection in an unknown transaction state must not serve anyone else.
 */
export async function withTransactionLock<T>(
  dataSource: DataSource,
  key: AdvisoryLockKey,
  wait: TransactionLockWait,
  work: (runner: QueryRunner) => Promise<T>,
): Promise<TransactionLockOutcome<T>> {
  const runner = dataSource.createQueryRunner();
  let broken: Error | undefined;
  /** Ends the transaction; a failure marks the connection broken, and is thrown. */
  const end = async (how: 'commit' | 'rollback') => {
    try {
      await (how === 'commit' ? runner.commitTransaction() : runner.rollbackTransaction());
    } catch (e) {
      broken = e as Error;
      throw e;
    }
  };
  try {
    await runner.startTransaction();
    let acquired: boolean;
    try {
      acquired = await acquire(runner, key, wait);
    } catch (e) {
      await end('rollback').catch(() => undefined);
      throw e;
    }
    if (!acquired) {
      await end('rollback');
      return { acquired: false };
    }
    let value: T;
    try {
      value = await work(runner);
    } catch (e) {
      // The work's error is what the caller needs; a failed rollback only breaks the connection.
      await end('rollback').catch(() => undefined);
      throw e;
    }
    await end('commit');
    return { acquired: true, value };
  } finally {
    await (broken ? discard(runner, broken) : runner.release());
  }
}

/** Takes the lock in the runner's open transaction; false if it was held past the wait. */
async function acquire(
  runner: QueryRunner,
  key: AdvisoryLockKey,
  wait: TransactionLockWait,
): Promise<boolean> {
  const { args, params } = keySql(key);
  if (wait === 'try') {
    const [row] = await runner.query(`SELECT pg_try_advisory_xact_lock${args} AS locked`, params);
    return row.locked as boolean;
  }
  // SET LOCAL ends with the transaction: nothing stays behind on a pooled server connection.
  // A lock_timeout of 0 would mean no timeout at all, hence at least 1 ms.
  const timeoutMs = Math.max(1, Math.ceil(wait.timeoutMs));
  await runner.query(`SET LOCAL lock_timeout = '${timeoutMs}ms'`);
  try {
    await runner.query(`SELECT pg_advisory_xact_lock${args}`, params);
  } catch (e) {
    if (isLockNotAvailable(e)) return false;
    throw e;
  }
  // The timeout was for this wait only, not for whatever the work does on the runner.
  await runner.query('SET LOCAL lock_timeout = DEFAULT');
  return true;
}

/** Returns the runner's connection to pg's pool as broken, so the pool closes it. */
function discard(runner: QueryRunner, error: Error): Promise<void> {
  return (runner as QueryRunner & PostgresRelease).releasePostgresConnection(error);
}

/** TypeORM's PostgresQueryRunner: releasing with an error makes pg-pool destroy the client. */
interface PostgresRelease {
  releasePostgresConnection(error?: Error): Promise<void>;
}

/**
 * The statement listing a key's rows in pg_locks (`pid`, `granted`: who holds it, who waits),
 * with the key derived as the lock derives it: what a test or an operator chasing a stuck
 * lock looks at. An advisory key shows as two oids: a bigint's high and low halves
 * (objsubid 1), or the two ints (objsubid 2).
 */
export function advisoryLockRowsQuery(key: AdvisoryLockKey): { sql: string; params: unknown[] } {
  const [classid, objid, objsubid, params] =
    typeof key === 'string'
      ? ['hashtext($1)::bigint >> 32', 'hashtext($1)::bigint', 1, [key]]
      : ['$1::bigint', 'hashtext($2)::bigint', 2, [key[0], key[1]]];
  return {
    sql:
      `SELECT pid, granted FROM pg_locks WHERE locktype = 'advisory' AND objsubid = ${objsubid}` +
      ` AND classid = ((${classid}) & 4294967295)::oid AND objid = ((${objid}) & 4294967295)::oid` +
      // Advisory keys are per database: the same key in another database is another lock.
      ' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())',
    params,
  };
}
