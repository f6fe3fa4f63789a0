import type { DataSource } from 'typeorm';
import type { SessionDbKind } from '../config/session-db-url.util.js';
import type { AdvisoryLockKey } from './lock-keys.js';
import { BodhiMetrics } from '../../metrics/bodhi-metrics.js';
import { MeasuredLock } from './measured-lock.js';

/** Advisory-lock namespace of per-session locks (the two-int key space; see pg docs). */
const SESSION_LOCK_NAMESPACE = 0x0b0d;

/** The advisory lock of one session id, the same on every instance. */
export const sessionLockKey = (sid: string): AdvisoryLockKey => [SESSION_LOCK_NAMESPACE, sid];

export class SessionLockTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`Timed out after ${timeoutMs} ms waiting for a session lock`);
    this.name = 'SessionLockTimeoutError';
  }
}

export interface SessionLockOptions {
  dataSource: DataSource;
  kind: SessionDbKind;
  /**
   * How long a holder waits for another instance's lock (in PostgreSQL, as its
   * lock_timeout), and before that for a holder's slot in this process (`maxHolders`),
   * before giving up with SessionLockTimeoutError; default 15 s.
   */
  timeoutMs?: number;
  /**
   * How many cross-instance locks this process holds at once; default 4. Each holder keeps a
   * pooled connection (in an open transaction) while its work runs on it; below the pool
   * size, requests that need no lock still find connections.
   */
  maxHolders?: number;
  /**
   * Where the cross-instance lock's statements are measured (operations `sessionLock`,
   * `sessionLockCommit`; MeasuredLock).
   */
  metrics?: BodhiMetrics;
}

/**
 * Mutual exclusion per session id — for work like a token refresh that must happen once
 * even when many requests of one session arrive together. Callers in this process queue
 * on a promise chain (so they hold no database connection while waiting); on PostgreSQL
 * the holder also takes a transaction-scoped advisory lock (withTransactionLock), which
 * makes the lock hold across every instance sharing the database, through a transaction
 * pooler too. SQLite deployments are a single process, so the in-process queue is the
 * whole lock there.
 */
export class SessionLock {
  private readonly dataSource: DataSource;
  private readonly timeoutMs: number;
  private readonly maxHolders: number;
  private readonly tails = new Map<string, Promise<void>>();
  /** Cross-instance lock holders in this process, and those waiting for a slot. */
  private holders = 0;
  private readonly waiting: (() => void)[] = [];
  /** The cross-instance lock (PostgreSQL); none on SQLite. */
  private readonly clusterLock?: MeasuredLock;

  constructor(options: SessionLockOptions) {
    this.dataSource = options.dataSource;
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.maxHolders = options.maxHolders ?? 4;
    this.clusterLock = MeasuredLock.of(
      options.kind,
      'sessionLock',
      options.metrics ?? new BodhiMetrics(),
    );
  }

  async run<T>(sid: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(sid) ?? Promise.resolve();
    let release!: () => void;
    const tail = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
    this.tails.set(sid, tail);
    await previous;
    try {
      const lock = this.clusterLock;
      return lock ? await this.withClusterLock(lock, sid, work) : await work();
    } finally {
      release();
      if (this.tails.get(sid) === tail) this.tails.delete(sid);
    }
  }

  private async withClusterLock<T>(
    lock: MeasuredLock,
    sid: string,
    work: () => Promise<T>,
  ): Promise<T> {
    // `while`: a caller arriving as a slot frees may take it before the woken waiter runs.
    const giveUpAt = Date.now() + this.timeoutMs;
    while (this.holders >= this.maxHolders) {
      if (!(await this.slotFreed(giveUpAt - Date.now())))
        throw new SessionLockTimeoutError(this.timeoutMs);
    }
    this.holders++;
    try {
      return await this.holdClusterLock(lock, sid, work);
    } finally {
      this.holders--;
      this.waiting.shift()?.();
    }
  }

  /**
   * Resolves true once a holder lets its slot go, false when none has within `withinMs`: a
   * wait for a slot has the lock's own deadline, so holders that do not finish (a database
   * that stopped answering) cost waiters a 503, not a hang.
   */
  private slotFreed(withinMs: number): Promise<boolean> {
    if (withinMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(wake), 1);
        resolve(false);
      }, withinMs);
      this.waiting.push(wake);
    });
  }

  private async holdClusterLock<T>(
    lock: MeasuredLock,
    sid: string,
    work: () => Promise<T>,
  ): Promise<T> {
    // The work's statements run on the lock's own connection (one connection per holder,
    // so holders cannot starve each other of connections behind a pooler); what it saves
    // commits with the lock's transaction, before the next holder reads it.
    const held = await lock.run(
      this.dataSource,
      sessionLockKey(sid),
      { timeoutMs: this.timeoutMs },
      work,
      { onLockConnection: true },
    );
    if (!held.acquired) throw new SessionLockTimeoutError(this.timeoutMs);
    return held.value;
  }
}
