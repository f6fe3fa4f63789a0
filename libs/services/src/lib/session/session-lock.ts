import type { DataSource } from 'typeorm';
import type { SessionDbKind } from './session-db-url.util.js';
import { withAdvisoryLock } from './advisory-lock.js';

/** Advisory-lock namespace of per-session locks (the two-int key space; see pg docs). */
const SESSION_LOCK_NAMESPACE = 0x0b0d;

export class SessionLockTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`Timed out after ${timeoutMs} ms waiting for a session lock`);
    this.name = 'SessionLockTimeoutError';
  }
}

/**
 * Mutual exclusion per session id — for work like a token refresh that must happen once
 * even when many requests of one session arrive together. Callers in this process queue
 * on a promise chain (so they hold no database connection while waiting); on PostgreSQL
 * the holder also takes an advisory lock, which makes the lock hold across every
 * instance sharing the database. SQLite deployments are a single process, so the
 * in-process queue is the whole lock there.
 */
export class SessionLock {
  private readonly tails = new Map<string, Promise<void>>();
  /** Advisory-lock holders in this process, and those waiting for a slot. */
  private holders = 0;
  private readonly waiting: (() => void)[] = [];

  /**
   * @param maxHolders how many advisory locks this process holds at once. Each holder keeps
   *   a pooled connection while its work (which itself needs connections) runs, so this must
   *   stay below the pool size, or holders starve each other of connections.
   */
  constructor(
    private readonly dataSource: DataSource,
    private readonly kind: SessionDbKind,
    private readonly timeoutMs = 15_000,
    private readonly maxHolders = 4,
  ) {}

  async run<T>(sid: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(sid) ?? Promise.resolve();
    let release!: () => void;
    const tail = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
    this.tails.set(sid, tail);
    await previous;
    try {
      return this.kind === 'postgres' ? await this.withAdvisoryLock(sid, work) : await work();
    } finally {
      release();
      if (this.tails.get(sid) === tail) this.tails.delete(sid);
    }
  }

  private async withAdvisoryLock<T>(sid: string, work: () => Promise<T>): Promise<T> {
    if (this.holders >= this.maxHolders)
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.holders++;
    try {
      return await this.holdAdvisoryLock(sid, work);
    } finally {
      this.holders--;
      this.waiting.shift()?.();
    }
  }

  private async holdAdvisoryLock<T>(sid: string, work: () => Promise<T>): Promise<T> {
    // Polling rather than blocking: a waiter can give up on time.
    const held = await withAdvisoryLock(
      this.dataSource,
      [SESSION_LOCK_NAMESPACE, sid],
      { timeoutMs: this.timeoutMs },
      work,
    );
    if (!held.acquired) throw new SessionLockTimeoutError(this.timeoutMs);
    return held.value;
  }
}
