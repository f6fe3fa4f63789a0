import type { DataSource } from 'typeorm';
import type { Row, SqlExecutorOptions } from '../sql/session-sql.executor.js';
import type { SessionTableRef } from '../sql/session-sql.js';
import type {
  StatementEffect,
  StatementName,
  StatementParams,
  StatementSet,
} from '../sql/sql-statement.js';
import { MeasuredStatements } from '../sql/measured-statements.js';
import { BodhiMetrics } from '../../metrics/bodhi-metrics.js';
import type { SessionCache } from './session-cache.js';
import { afterLockCommit, inLockTransaction } from '../dialects/postgres/pinned-connection.js';
import { userKey, type SessionChange } from '../cluster/channel-messages.js';

/** The statements' interface the store and the revocation records run on. */
export type StoreStatements<S extends StatementSet> = Pick<
  MeasuredStatements<S>,
  'backend' | 'rows' | 'run' | 'refused'
>;

/**
 * The statements `statements` builds for the table `ref`, as a store or the revocation
 * records run them: measured, and cached when given a cache.
 */
export function storeStatements<S extends StatementSet>(
  dataSource: DataSource,
  ref: SessionTableRef,
  statements: (ref: SessionTableRef) => S,
  config: SqlExecutorOptions & { metrics?: BodhiMetrics; cache?: SessionCache },
): StoreStatements<S> {
  const measured = new MeasuredStatements(
    dataSource,
    ref,
    statements,
    config,
    config.metrics ?? new BodhiMetrics(),
  );
  return config.cache ? new CachedStatements(measured, config.cache) : measured;
}

/** What the cached read, `get`, is read by. */
interface CachedReadParams {
  key: string;
  now: number;
}

/**
 * The store's statements with the session cache in front of `get`: a hit answers with no
 * round trip; a miss reads and fills the cache. Every write with an `effect` drops what
 * it changed from this instance's cache as soon as it has run — failed or not, since a
 * statement that failed on the way back may have committed — so that this instance's next
 * request, the very next one, reads it again; the other instances learn of it from the
 * table's triggers.
 *
 * Inside a lock's transaction (a refresh re-reading the session it is about to refresh)
 * reads go to the database and fill nothing: the holder must see what another instance
 * committed before it took the lock, not a copy its notification may not have reached yet.
 * A key written there stays out of the cache until that transaction has committed (`hold`,
 * `release`). The store's user-wide writes (ending a user's sessions, revoking a user) take
 * no session lock, so they commit before they return. A write that ends access
 * (`ends`) returns only once every instance serving from a cache has handled it
 * (`SessionCache.announced`, after the lock's commit if there is one).
 */
export class CachedStatements<S extends StatementSet> implements StoreStatements<S> {
  readonly backend: MeasuredStatements<S>['backend'];

  constructor(
    private readonly inner: MeasuredStatements<S>,
    private readonly cache: SessionCache,
  ) {
    this.backend = inner.backend;
  }

  async rows<N extends StatementName<S>>(name: N, params: StatementParams<S>[N]): Promise<Row[]> {
    if (name !== 'get') return this.written(name, params, () => this.inner.rows(name, params));
    if (inLockTransaction()) return this.inner.rows(name, params);
    const { key, now } = params as CachedReadParams;
    // Let the event loop first handle what is already here: a notification that reached
    // this process with (or before) the request is then heard before the lookup answers.
    if (this.cache.isServing) await new Promise<void>((resolve) => setImmediate(resolve));
    const hit = this.cache.lookup(key, now);
    if (hit) return [hit];
    const read = this.cache.beginRead(key);
    let rows: Row[] = [];
    try {
      rows = await this.inner.rows(name, params);
    } finally {
      this.cache.fill(read, rows[0]);
    }
    return rows;
  }

  run<N extends StatementName<S>>(name: N, params: StatementParams<S>[N]): Promise<number> {
    return this.written(name, params, () => this.inner.run(name, params));
  }

  refused: StoreStatements<S>['refused'] = (name, kind) => this.inner.refused(name, kind);

  private async written<N extends StatementName<S>, T>(
    name: N,
    params: StatementParams<S>[N],
    execute: () => Promise<T>,
  ) {
    const statement = this.inner.statements[name];
    const effect = statement.effect?.(params);
    let result: T;
    try {
      result = await execute();
    } finally {
      if (effect) {
        const message = invalidationOf(effect);
        this.cache.invalidate(message, 'local');
        // Committed later, with the lock's transaction: see SessionCache.hold.
        if (message.kind === 'session' && inLockTransaction()) {
          const { key } = message;
          this.cache.hold(key);
          void afterLockCommit(async () => this.cache.release(key));
        }
      }
    }
    // An ending is answered once it has been announced (after the lock's commit, if any).
    if (statement.ends) await afterLockCommit(() => this.cache.announced());
    return result;
  }
}

function invalidationOf(effect: StatementEffect): SessionChange {
  if (effect === 'all') return { kind: 'all' };
  if ('key' in effect) return { kind: 'session', key: effect.key };
  return { kind: 'user', userKey: userKey(effect.userId) };
}
