import type { DataSource, QueryRunner } from 'typeorm';

/**
 * A PostgreSQL advisory lock's key. A name becomes `hashtext(name)`, one bigint key; a
 * `[namespace, name]` pair uses the two-int key space, `(namespace, hashtext(name))`, which
 * never meets a one-key lock. Every instance of a cluster must derive keys the same way, or
 * their locks stop excluding each other.
 */
export type AdvisoryLockKey = string | readonly [namespace: number, name: string];

/**
 * How long to wait for a lock another connection holds: `'block'` as long as it takes,
 * `'try'` not at all, `{ timeoutMs }` polling until then (a waiter that can give up on time).
 */
export type AdvisoryLockWait = 'block' | 'try' | { timeoutMs: number };

export type AdvisoryLockOutcome<T> = { acquired: true; value: T } | { acquired: false };

const POLL_MS = 20;

const keySql = (key: AdvisoryLockKey) =>
  typeof key === 'string'
    ? { args: '(hashtext($1))', params: [key] }
    : { args: '($1, hashtext($2))', params: [key[0], key[1]] };

/**
 * Runs `work` while this process holds the advisory lock `key`, on a connection of the
 * lock's own (the work takes its connections from the pool as usual), and always unlocks and
 * returns that connection afterwards, whether the work returned, threw, or never got the
 * lock. With `'block'` the lock is always acquired; otherwise the outcome says whether the
 * work ran.
 *
 * The lock is session-level: held by the connection until unlocked. Every advisory lock of
 * the session store is taken here, so that choice lives in this one function.
 */
export async function withAdvisoryLock<T>(
  dataSource: DataSource,
  key: AdvisoryLockKey,
  wait: 'block',
  work: () => Promise<T>,
): Promise<T>;
export async function withAdvisoryLock<T>(
  dataSource: DataSource,
  key: AdvisoryLockKey,
  wait: 'try' | { timeoutMs: number },
  work: () => Promise<T>,
): Promise<AdvisoryLockOutcome<T>>;
export async function withAdvisoryLock<T>(
  dataSource: DataSource,
  key: AdvisoryLockKey,
  wait: AdvisoryLockWait,
  work: () => Promise<T>,
): Promise<T | AdvisoryLockOutcome<T>> {
  const { args, params } = keySql(key);
  const runner = dataSource.createQueryRunner();
  let unlockFailure: Error | undefined;
  const tryLock = async () =>
    (await runner.query(`SELECT pg_try_advisory_lock${args} AS locked`, params))[0]
      .locked as boolean;
  try {
    if (wait === 'block') {
      await runner.query(`SELECT pg_advisory_lock${args}`, params);
    } else {
      const deadline = wait === 'try' ? 0 : Date.now() + wait.timeoutMs;
      while (!(await tryLock())) {
        if (Date.now() > deadline) return { acquired: false };
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    }
    try {
      const value = await work();
      return wait === 'block' ? value : { acquired: true, value };
    } finally {
      await runner.query(`SELECT pg_advisory_unlock${args}`, params).catch((e: Error) => {
        unlockFailure = e;
      });
    }
  } finally {
    // A connection whose unlock failed may still hold the lock: it is closed, not pooled, and
    // a session-level lock ends with its connection. The work's outcome stands either way.
    await (unlockFailure ? discard(runner, unlockFailure) : runner.release());
  }
}

/** Returns the runner's connection to pg's pool as broken, so the pool closes it. */
function discard(runner: QueryRunner, error: Error): Promise<void> {
  return (runner as QueryRunner & PostgresRelease).releasePostgresConnection(error);
}

/** TypeORM's PostgresQueryRunner: releasing with an error makes pg-pool destroy the client. */
interface PostgresRelease {
  releasePostgresConnection(error?: Error): Promise<void>;
}
