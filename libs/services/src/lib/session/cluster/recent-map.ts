/**
 * Values by key, each kept for `retainMs` after it was last set, and at most `max` of them
 * (setting one more forgets the least recently set): the bounded memory of what verified
 * messages said. Monotonic time, so a wall-clock step neither keeps nor drops anything.
 */
export class RecentMap<V> {
  /** In the order they were last set: the oldest first. */
  private readonly entries = new Map<string, { value: V; at: number }>();

  constructor(private readonly options: { retainMs: number; max: number }) {}

  /** The value of `key`, unless it was set more than `retainMs` ago (or never). */
  get(key: string): V | undefined {
    this.forgetOld();
    return this.entries.get(key)?.value;
  }

  /** Sets `key` to `value` as of now. */
  set(key: string, value: V): void {
    this.forgetOld();
    this.entries.delete(key);
    if (this.entries.size >= this.options.max) {
      this.entries.delete(this.entries.keys().next().value as string);
    }
    this.entries.set(key, { value, at: performance.now() });
  }

  /** The entries set within the last `ms`, oldest first. */
  *setWithin(ms: number): IterableIterator<[string, V]> {
    const now = performance.now();
    for (const [key, { value, at }] of this.entries) {
      if (now - at < ms) yield [key, value];
    }
  }

  private forgetOld(): void {
    const now = performance.now();
    for (const [key, { at }] of this.entries) {
      if (now - at < this.options.retainMs) return;
      this.entries.delete(key);
    }
  }
}
