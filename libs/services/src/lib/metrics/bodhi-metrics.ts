import { Injectable } from '@nestjs/common';
import type { StoreErrorKind } from '../session/session.errors.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Store statements answer in about a millisecond; a refresh, a prune or a database that
 * stalls takes seconds. Buckets from 0.5 ms to 10 s cover both on one histogram.
 */
const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * prom-client's default process metrics (CPU, memory, event-loop lag, GC), on one registry
 * for the whole process, made on first use: `collectDefaultMetrics` starts an event-loop
 * delay monitor and a GC PerformanceObserver that nothing stops, and the observer keeps its
 * registry reachable. Per app, every start and stop would add a monitor, and keep that app's
 * registry (its pool readers, its closed pool) alive for good. The process is one, so its
 * metrics are the same in every app that serves them.
 */
let processMetrics: Registry | undefined;
export function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

/** One store operation being timed (BodhiMetrics.storeOperation). */
export interface StoreOperationTimer {
  done(): void;
  failed(kind: StoreErrorKind): void;
}

/** A PostgreSQL pool's clients as `pg` counts them. */
export interface PoolCounts {
  inUse: number;
  idle: number;
  waiting: number;
}

/**
 * Every metric the server exposes, on a registry of its own: two servers in one process
 * (tests, an embedder) count apart, and prom-client's global registry is never touched.
 * The metrics are always counted (an increment costs nanoseconds); BODHI_METRICS decides
 * whether they are served, and only served metrics sample the process (`collectProcess`).
 * Names follow Prometheus conventions: `_seconds`, `_total`, base units.
 */
@Injectable()
export class BodhiMetrics {
  readonly registry = new Registry();

  /**
   * One store operation, by operation and backend (`sqlite`, `postgres`). `operation`: a
   * statement by its name in `sessionStatements` (get, set, update, touch, destroy, length,
   * keys, pruneBatch, …) or `revocationStatements` (revokeUser, tokenRevocation, …), as
   * MeasuredStatements runs them, or a cross-instance lock's transaction on PostgreSQL
   * (MeasuredLock): `sessionLock` / `pruneLock` from BEGIN to the lock held (or refused),
   * `sessionLockCommit` / `pruneLockCommit` its COMMIT (a session lock's commits what the
   * work under it saved). Failed operations are timed too.
   */
  readonly storeOperationDuration = new Histogram({
    name: 'bodhi_session_store_operation_duration_seconds',
    help: 'Time a session store operation took, by operation and backend',
    labelNames: ['operation', 'backend'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  /**
   * A failed store operation, by `operation` and `backend` as in `storeOperationDuration`,
   * and `kind` (StoreErrorKind: unavailable, lock_timeout, lost_prepared_statement,
   * too_large, invalid_input). A session lock another instance held past the wait counts as
   * `sessionLock` lock_timeout; a prune lock another instance holds is no error.
   */
  readonly storeErrors = new Counter({
    name: 'bodhi_session_store_errors_total',
    help: 'Session store operations that failed, by operation, backend and kind',
    labelNames: ['operation', 'backend', 'kind'] as const,
    registers: [this.registry],
  });

  /** Live sessions, as the last prune round counted them (not counted per scrape). */
  readonly liveSessions = new Gauge({
    name: 'bodhi_sessions_live',
    help: 'Live (unexpired) sessions in the store, as of the last prune round',
    labelNames: ['backend'] as const,
    registers: [this.registry],
  });

  /** Rows a prune round deleted, by table (`sessions`, `revoked_tokens`). */
  readonly prunedRows = new Counter({
    name: 'bodhi_session_pruned_rows_total',
    help: 'Expired rows the pruner deleted, by table',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });

  /**
   * A prune round this instance ran, to its end or to its failure (a round another instance
   * holds the prune lock of is not one).
   */
  readonly pruneDuration = new Histogram({
    name: 'bodhi_session_prune_duration_seconds',
    help: 'Time a prune round took (failed rounds included)',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  /**
   * When this instance last pruned both tables to the end (0 until it has): alert on the
   * newest over all instances growing old (only one instance prunes at a time).
   */
  readonly pruneLastSuccess = new Gauge({
    name: 'bodhi_session_prune_last_success_timestamp_seconds',
    help: 'Unix time this instance last completed a prune round (0: none yet)',
    registers: [this.registry],
  });

  /** Access-token refreshes, by outcome. */
  readonly refreshes = new Counter({
    name: 'bodhi_token_refreshes_total',
    help: 'Access-token refreshes, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  /** How long a refresh waited for its session's refresh lock. */
  readonly refreshLockWait = new Histogram({
    name: 'bodhi_token_refresh_lock_wait_seconds',
    help: "Time a refresh waited for its session's refresh lock",
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  /** Login callbacks, by outcome (`success`, `failure`) and reason. */
  readonly logins = new Counter({
    name: 'bodhi_logins_total',
    help: 'Completed and failed logins, by outcome and reason',
    labelNames: ['outcome', 'reason'] as const,
    registers: [this.registry],
  });

  /**
   * Sessions ended and credentials revoked, by reason and outcome (RevocationService counts
   * them). `reason`: why access ended — `logout`, `session_ended` (the owner ended one of
   * their sessions), `other_sessions_ended` (the owner ended all their others),
   * `admin_revoke` (an admin ended one or all of a user's sessions), `role_change` (the user
   * was revoked), or `retry` for a queued provider revocation's later attempts (the queue
   * keeps no reason). `outcome`: `ended` counts the sessions ended here (one per session;
   * their access tokens are refused on every instance); the others count one revocation at
   * the provider each (a refresh token, or a user's grants at a role change): `revoked`
   * (taken), `refused` (a final answer, nothing left to revoke; not retried), `queued` (the
   * provider did not answer; retried later), `given_up` (retried for a day, undecryptable,
   * or could not be queued; never revoked).
   */
  readonly revocations = new Counter({
    name: 'bodhi_revocations_total',
    help: 'Sessions ended and tokens revoked, by reason and outcome',
    labelNames: ['reason', 'outcome'] as const,
    registers: [this.registry],
  });

  /**
   * Session reads the PostgreSQL session cache answered, by `result`: `hit` (no database
   * round trip), `miss` (read from the database), `bypass` (the cache was not serving: its
   * listener was down or not yet proven). No series without a cache (SQLite, or off).
   */
  readonly sessionCacheLookups = new Counter({
    name: 'bodhi_session_cache_lookups_total',
    help: 'Session reads the session cache answered, by result (hit, miss, bypass)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  /** Sessions the cache holds now. */
  readonly sessionCacheEntries = new Gauge({
    name: 'bodhi_session_cache_entries',
    help: 'Sessions held in the session cache',
    registers: [this.registry],
  });

  /**
   * Changes that dropped cache entries, by `kind` (`session`, `user`, `all`) and `source`
   * (`local`: this instance's own write; `notify`: a notification, any instance's).
   */
  readonly sessionCacheInvalidations = new Counter({
    name: 'bodhi_session_cache_invalidations_total',
    help: 'Changes that dropped session cache entries, by kind and source',
    labelNames: ['kind', 'source'] as const,
    registers: [this.registry],
  });

  /** 1 while the cache serves (its listener is up and proven), 0 while it is bypassed. */
  readonly sessionCacheServing = new Gauge({
    name: 'bodhi_session_cache_serving',
    help: 'Whether the session cache serves reads (1) or is bypassed (0)',
    registers: [this.registry],
  });

  /**
   * Times the cache stopped serving and dropped everything, by `reason`: `listener_lost`
   * (its connection ended), `health_check` (a probe did not come back in time), `shutdown`.
   */
  readonly sessionCacheSuspensions = new Counter({
    name: 'bodhi_session_cache_suspensions_total',
    help: 'Times the session cache stopped serving, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /**
   * The share of PostgreSQL's notification queue in use (0 to 1), as this instance's
   * listener last read it with its health probe. It grows while any listening connection
   * of the database stops reading (an instance frozen, not dead): PostgreSQL warns at half,
   * and at full every notifying commit, each session write among them, fails.
   */
  readonly sessionCacheNotifyQueueUsage = new Gauge({
    name: 'bodhi_session_cache_notify_queue_usage_ratio',
    help: "Share of PostgreSQL's notification queue in use, read by the session cache's listener",
    registers: [this.registry],
  });

  private readonly pools: (() => PoolCounts)[] = [];

  /**
   * The PostgreSQL pool's clients, read at each scrape from the pools `watchPool` names; no
   * series while none is watched (SQLite has no pool).
   */
  readonly poolConnections = new Gauge({
    name: 'bodhi_session_db_pool_connections',
    help: "The session database pool's clients, by state (in_use, idle, waiting)",
    labelNames: ['state'] as const,
    registers: [this.registry],
    collect: () => {
      if (this.pools.length === 0) {
        this.poolConnections.reset();
        return;
      }
      const counts = this.pools.map((read) => read());
      const sum = (pick: (c: PoolCounts) => number) => counts.reduce((n, c) => n + pick(c), 0);
      this.poolConnections.set(
        { state: 'in_use' },
        sum((c) => c.inUse),
      );
      this.poolConnections.set(
        { state: 'idle' },
        sum((c) => c.idle),
      );
      this.poolConnections.set(
        { state: 'waiting' },
        sum((c) => c.waiting),
      );
    },
  });

  private process?: Registry;

  /**
   * Times one store operation from now, in `storeOperationDuration{operation, backend}`:
   * `done()` when it ended; `failed(kind)` when it failed, which also counts it in
   * `storeErrors{operation, backend, kind}` (a failed operation is timed too).
   */
  storeOperation(operation: string, backend: string): StoreOperationTimer {
    const labels = { operation, backend };
    const stop = this.storeOperationDuration.startTimer(labels);
    return {
      done: () => void stop(),
      failed: (kind) => {
        stop();
        this.storeErrors.inc({ ...labels, kind });
      },
    };
  }

  /**
   * Reads a pool's counts at each scrape (the serving PostgreSQL pool) until the returned
   * unwatch is called: a closed app's pool is then no longer read, nor kept alive.
   */
  watchPool(read: () => PoolCounts): () => void {
    this.pools.push(read);
    return () => {
      const at = this.pools.indexOf(read);
      if (at >= 0) this.pools.splice(at, 1);
    };
  }

  /** Adds prom-client's default process metrics to the exposition (`processRegistry`). */
  collectProcess(): void {
    this.process = processRegistry();
  }

  /** The text exposition (the app's metrics, then the process's) and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    const body = await this.registry.metrics();
    return {
      // Both registries write the Prometheus text format: one content type.
      contentType: this.registry.contentType,
      body: this.process ? `${body}\n${await this.process.metrics()}` : body,
    };
  }
}
