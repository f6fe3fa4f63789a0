import type { Row } from '../sql/session-sql.executor.js';
import { type SessionChange, userKey } from '../cluster/channel-messages.js';
import { BodhiMetrics } from '../../metrics/bodhi-metrics.js';

/**
 * Longest an entry is served however quiet its listener is: the backstop should a
 * notification be missed in a way the listener's health check cannot see. Short enough to
 * bound what such a miss could cost; long enough that an active session costs one read in
 * this time, not one per request.
 */
export const SESSION_CACHE_MAX_AGE_MS = 10_000;

/**
 * Most session data one instance keeps, in characters of the stored data (ciphertext or
 * JSON; the least recently used go first): 64 MiB whatever the number or size of the
 * sessions in the table, some 20,000 logged-in sessions of ~3 kB.
 */
export const SESSION_CACHE_MAX_CHARS = 64 * 1024 * 1024;

/** Held keys are swept of expired ones once this many are held (rolled-back writes). */
const HELD_SWEEP_AT = 1000;

/** Where a cache entry came from: what `get` returned for it. */
interface Entry {
  row: Row;
  /** `userKey` of the row's user; null before login. */
  userKey: string | null;
  /** When it was cached, by the monotonic clock. */
  storedAt: number;
  /** What it counts against the bound: the length of its data. */
  chars: number;
}

/** A read of the database a miss started: it may fill the cache only if nothing changed since. */
export interface CacheRead {
  readonly key: string;
  /** The cache's generation when the read started. */
  readonly generation: number;
  /** Set when the key was dropped while the read was out. */
  stale: boolean;
}

export interface SessionCacheOptions {
  maxAgeMs?: number;
  maxChars?: number;
  /** A monotonic clock in ms (entries' age); tests may pass their own. */
  clock?: () => number;
  metrics?: BodhiMetrics;
}

/**
 * One instance's in-memory copy of session rows as `get` read them, in front of PostgreSQL.
 * It serves nothing until its listener says the instance is told of every change
 * (`resume`), and again nothing from the moment it may not be (`suspend`): entries are
 * then dropped, and what was read meanwhile is not kept. Changes drop entries by key, by
 * user, or all of them; a read that was out while its key (or anything, for a user's or a
 * global change) was dropped returns its row to its caller but does not fill the cache,
 * since the row may predate the change. Entries older than `maxAgeMs` are not served.
 */
export class SessionCache {
  private readonly entries = new Map<string, Entry>();
  private readonly byUser = new Map<string, Set<string>>();
  private readonly reads = new Map<string, Set<CacheRead>>();
  /** Keys written in a transaction not yet committed, by when (monotonic): see `hold`. */
  private readonly held = new Map<string, number>();
  private generation = 0;
  private chars = 0;
  private serving = false;
  private readonly maxAgeMs: number;
  private readonly maxChars: number;
  private readonly clock: () => number;
  private readonly metrics: BodhiMetrics;
  /** The lookup counter's children, bound once: every request counts one. */
  private readonly lookups;

  constructor(options: SessionCacheOptions = {}) {
    this.maxAgeMs = options.maxAgeMs ?? SESSION_CACHE_MAX_AGE_MS;
    this.maxChars = options.maxChars ?? SESSION_CACHE_MAX_CHARS;
    this.clock = options.clock ?? (() => performance.now());
    this.metrics = options.metrics ?? new BodhiMetrics();
    this.metrics.sessionCacheServing.set(0);
    const counter = this.metrics.sessionCacheLookups;
    this.lookups = {
      hit: counter.labels({ result: 'hit' }),
      miss: counter.labels({ result: 'miss' }),
      bypass: counter.labels({ result: 'bypass' }),
    };
  }

  private barrier?: () => Promise<void>;

  /** The listener's barrier: every serving instance has handled what was committed before. */
  setBarrier(barrier: () => Promise<void>): void {
    this.barrier = barrier;
  }

  /**
   * Resolves once every instance serving from its cache (this one included) has handled
   * every change committed before the call (the listener's barrier, bounded in time), or at
   * once without a listener. An ending answers only then: no instance serves it after.
   */
  announced(): Promise<void> {
    return this.barrier ? this.barrier() : Promise.resolve();
  }

  /** Whether entries are served: the listener is up and proven. */
  get isServing(): boolean {
    return this.serving;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The row cached for `key` if it is live at `now` (epoch ms, the app clock, as `get`
   * filters); undefined on a miss, or while the cache is not serving.
   */
  lookup(key: string, now: number): Row | undefined {
    if (!this.serving) {
      this.lookups.bypass.inc();
      return undefined;
    }
    const entry = this.entries.get(key);
    if (
      !entry ||
      this.clock() - entry.storedAt >= this.maxAgeMs ||
      Number(entry.row.expires_at) <= now
    ) {
      if (entry) {
        this.remove(key);
        this.metrics.sessionCacheEntries.set(this.entries.size);
      }
      this.lookups.miss.inc();
      return undefined;
    }
    // Most recently used last: eviction takes the first.
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.lookups.hit.inc();
    return entry.row;
  }

  /** Starts a read of `key` from the database, for `fill` when it returns. */
  beginRead(key: string): CacheRead {
    const read: CacheRead = { key, generation: this.generation, stale: false };
    let pending = this.reads.get(key);
    if (!pending) this.reads.set(key, (pending = new Set()));
    pending.add(read);
    return read;
  }

  /**
   * Ends `read`; caches its row (undefined: none was found) when nothing it could predate
   * happened while it was out and the cache is serving.
   */
  fill(read: CacheRead, row: Row | undefined): void {
    const pending = this.reads.get(read.key);
    pending?.delete(read);
    if (pending?.size === 0) this.reads.delete(read.key);
    if (!row || read.stale || read.generation !== this.generation || !this.serving) return;
    if (this.isHeld(read.key)) return;
    this.remove(read.key);
    const user = row.user_id == null ? null : userKey(String(row.user_id));
    const chars = String(row.data).length;
    // One that would not fit would only push every other entry out.
    if (chars > this.maxChars) return;
    this.entries.set(read.key, { row, userKey: user, storedAt: this.clock(), chars });
    this.chars += chars;
    if (user !== null) {
      let keys = this.byUser.get(user);
      if (!keys) this.byUser.set(user, (keys = new Set()));
      keys.add(read.key);
    }
    // The least recently used first (a hit moves its entry to the end).
    for (const oldest of this.entries.keys()) {
      if (this.chars <= this.maxChars) break;
      this.remove(oldest);
    }
    this.metrics.sessionCacheEntries.set(this.entries.size);
  }

  /**
   * Keeps `key` out of the cache until `release(key)`, after the commit (or `maxAgeMs`
   * passes: a change that rolled back releases nothing): for a write
   * inside a lock's transaction, which commits after this instance has dropped the entry.
   * Until the commit, another request's read still sees the row as it was and must not
   * cache it: a logout's ended session would then be served until the notification came.
   */
  hold(key: string): void {
    if (this.held.size >= HELD_SWEEP_AT) {
      for (const [held, at] of this.held)
        if (this.clock() - at >= this.maxAgeMs) this.held.delete(held);
    }
    this.held.set(key, this.clock());
  }

  /**
   * Ends a hold once its transaction has committed: the entry, and any read still out
   * (it may have seen the row before the commit), are dropped with it.
   */
  release(key: string): void {
    this.held.delete(key);
    this.dropKey(key);
  }

  /** Drops what `change` changed (`source`: this instance's write, or a notification). */
  invalidate(change: SessionChange, source: 'local' | 'notify'): void {
    switch (change.kind) {
      case 'session':
        this.dropKey(change.key);
        break;
      case 'user':
        for (const key of this.byUser.get(change.userKey) ?? []) this.remove(key);
        // A read out now may be of this user's session: its row would predate the change.
        this.generation++;
        break;
      case 'all':
        this.clear();
        break;
    }
    this.metrics.sessionCacheInvalidations.inc({ kind: change.kind, source });
    this.metrics.sessionCacheEntries.set(this.entries.size);
  }

  /**
   * Stops serving and drops every entry: changes may be missed from now on (the listener
   * lost its connection, or failed a health check). `reason` is counted.
   */
  suspend(reason: 'listener_lost' | 'health_check' | 'shutdown'): void {
    const was = this.serving;
    this.serving = false;
    this.clear();
    this.metrics.sessionCacheServing.set(0);
    if (was) this.metrics.sessionCacheSuspensions.inc({ reason });
  }

  /**
   * Serves again: the listener listens and has seen a notification it sent. Reads started
   * before are not kept (they may predate a change made while nobody listened).
   */
  resume(): void {
    this.clear();
    this.serving = true;
    this.metrics.sessionCacheServing.set(1);
  }

  private isHeld(key: string): boolean {
    const at = this.held.get(key);
    if (at === undefined) return false;
    if (this.clock() - at < this.maxAgeMs) return true;
    this.held.delete(key);
    return false;
  }

  private dropKey(key: string): void {
    this.remove(key);
    for (const read of this.reads.get(key) ?? []) read.stale = true;
  }

  private clear(): void {
    this.entries.clear();
    this.byUser.clear();
    this.chars = 0;
    this.generation++;
    this.metrics.sessionCacheEntries.set(0);
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.chars -= entry.chars;
    if (entry.userKey === null) return;
    const keys = this.byUser.get(entry.userKey);
    keys?.delete(key);
    if (keys?.size === 0) this.byUser.delete(entry.userKey);
  }
}
