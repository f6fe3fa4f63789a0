import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { DataSource } from 'typeorm';
import {
  InjectResolvedSessionOptions,
  InjectSessionDataSource,
  SESSION_METRICS,
} from '../session.constants.js';
import type { ResolvedSessionOptions } from '../config/session.options.js';
import { SessionStoreBackend } from './session-store.backend.js';
import { sessionDialect } from '../dialects/index.js';
import { MeasuredLock } from '../locks/measured-lock.js';
import { pruneLockKey } from '../locks/lock-keys.js';
import { SessionRevocations } from '../../revocation/session-revocations.js';
import { BodhiMetrics } from '../../metrics/bodhi-metrics.js';

/**
 * Deletes expired rows on an interval — sessions, and revoked-token records whose tokens
 * have expired — in bounded batches so no statement holds locks for long. The timer never keeps the process alive; a failed round is logged and the next
 * one runs as planned. On PostgreSQL a transaction-scoped advisory lock lets one instance
 * of a cluster prune at a time; the batches run on pool connections and commit on their own
 * (the lock's transaction only holds the lock).
 */
@Injectable()
export class SessionPruner implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(SessionPruner.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;
  /** The cross-instance prune lock (PostgreSQL), measured as `pruneLock`; none on SQLite. */
  private readonly lock?: MeasuredLock;

  constructor(
    private readonly store: SessionStoreBackend,
    private readonly revocations: SessionRevocations,
    @InjectSessionDataSource() private readonly dataSource: DataSource,
    @InjectResolvedSessionOptions() private readonly options: ResolvedSessionOptions,
    @Inject(SESSION_METRICS) private readonly metrics: BodhiMetrics = new BodhiMetrics(),
  ) {
    this.lock = MeasuredLock.of(store.kind, 'pruneLock', metrics);
  }

  onApplicationBootstrap(): void {
    this.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.stop();
  }

  start(): void {
    if (this.timer || this.options.pruneIntervalMs === 0) return;
    this.timer = setInterval(() => void this.tick(), this.options.pruneIntervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a round in flight, so the DataSource can close after. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One full prune round; returns the rows removed (0 if another instance holds the lock). */
  pruneOnce(): Promise<number> {
    this.running ??= this.pruneAll().finally(() => (this.running = undefined));
    return this.running;
  }

  private async tick(): Promise<void> {
    try {
      const removed = await this.pruneOnce();
      if (removed > 0) this.logger.log(`Pruned ${removed} expired sessions`);
    } catch (e) {
      this.logger.error(`Pruning expired sessions failed: ${(e as Error).message}`);
    }
  }

  /**
   * A round: the prune (unless another instance holds the prune lock), then the live count.
   * The count runs in a round another instance prunes too: every instance reports a live
   * count (an instance that never wins the lock would otherwise report none, or a stale one),
   * and the count filters out expired rows itself, so it is right whoever prunes and however
   * far their prune has got. It runs after a failed prune as well, so the gauge stays true
   * through an outage of the prune alone (a count that fails too leaves the gauge as it was,
   * counted in `storeErrors` of its statement; the prune's error is the round's).
   * One COUNT per round and instance, never one per scrape.
   */
  private async pruneAll(): Promise<number> {
    let removed: number;
    try {
      removed = await this.pruneUnlessHeld();
    } catch (e) {
      await this.countLive().catch(() => undefined);
      throw e;
    }
    await this.countLive();
    return removed;
  }

  private async countLive(): Promise<void> {
    this.metrics.liveSessions.set({ backend: this.store.kind }, await this.store.countSessions());
  }

  private async pruneUnlessHeld(): Promise<number> {
    if (!this.lock) return this.pruneTables();
    const key = pruneLockKey(this.options.schema, this.options.tableName);
    // Batches on the pool, each committing alone: a long prune is never one transaction.
    const round = await this.lock.run(this.dataSource, key, 'try', () => this.pruneTables(), {
      onLockConnection: false,
    });
    return round.acquired ? round.value : 0;
  }

  /**
   * Expired sessions, then expired revoked-token records; returns the sessions removed.
   * `pruneDuration` times every round this instance ran, failed ones too (their statement's
   * failure is in `storeErrors`); `pruneLastSuccess` moves only when both tables were
   * pruned to the end.
   */
  private async pruneTables(): Promise<number> {
    const done = this.metrics.pruneDuration.startTimer();
    try {
      const sessions = await this.deleteBatches('sessions', (n) => this.store.pruneBatch(n));
      await this.deleteBatches('revoked_tokens', (n) => this.revocations.pruneRevokedTokens(n));
      this.metrics.pruneLastSuccess.setToCurrentTime();
      return sessions;
    } finally {
      done();
    }
  }

  /**
   * Deletes a table's expired rows batch by batch, each batch's rows added to
   * `prunedRows{table}` as it commits (`table`: 'sessions' or 'revoked_tokens').
   */
  private async deleteBatches(
    table: 'sessions' | 'revoked_tokens',
    pruneBatch: (batchSize: number) => Promise<number>,
  ): Promise<number> {
    const { pruneBatchSize } = this.options;
    let total = 0;
    for (let batch = 1; ; batch++) {
      const removed = await pruneBatch(pruneBatchSize);
      this.metrics.prunedRows.inc({ table }, removed);
      total += removed;
      if (removed < pruneBatchSize) return total;
      // better-sqlite3 is synchronous: without a turn of the event loop between batches,
      // a million expired rows would stall every request until the whole prune is done.
      await new Promise((resolve) => setImmediate(resolve));
      // What the backend needs between the batches of a long prune (SQLite: its WAL drained).
      await sessionDialect(this.store.kind).afterPruneBatch?.(this.dataSource, batch);
    }
  }
}
