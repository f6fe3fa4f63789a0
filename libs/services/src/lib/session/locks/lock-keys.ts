/**
 * An advisory lock's key. A name becomes `hashtext(name)`, one bigint key; a
 * `[namespace, name]` pair uses the two-int key space, `(namespace, hashtext(name))`, which
 * never meets a one-key lock. Every instance of a cluster must derive keys the same way, or
 * their locks stop excluding each other.
 */
export type AdvisoryLockKey = string | readonly [namespace: number, name: string];

/**
 * The names of the store's table-wide advisory locks, one place for the code that takes them
 * and for whoever checks pg_locks for them (the cluster e2e, an operator chasing a stuck lock).
 * Every instance of a cluster must derive them the same way, or their locks stop excluding
 * each other. A session's own lock is `sessionLockKey` (session-lock.ts).
 */
const tableLockKey = (lock: string, schema: string | undefined, table: string) =>
  `bodhi-session-${lock}:${schema ?? 'public'}.${table}`;

/**
 * Held while one instance migrates the table's schema. The same key as releases whose lock
 * was session-level: a session-level and a transaction-level hold of one key exclude each
 * other, so an instance of either release keeps the other out during a rolling upgrade.
 */
export const migrationLockKey = (schema: string | undefined, table: string) =>
  tableLockKey('migrate', schema, table);

/** Held while one instance prunes the table's expired rows. */
export const pruneLockKey = (schema: string | undefined, table: string) =>
  tableLockKey('prune', schema, table);
