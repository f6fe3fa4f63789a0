// What a test waits on instead of sleeping: a signal from the code under test, or a condition
// it polls.

/**
 * A promise and the function that resolves it: the signal one side of a test waits on
 * (the lock is held, the request has loaded its session) instead of sleeping.
 */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
} {
  let resolve!: (value: T | PromiseLike<T>) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * A promise and whether it has settled yet, read without waiting for it: how a test checks
 * that work it started (a write waiting for a lock) is still pending while it does others.
 */
export function tracked<T>(work: Promise<T>): { readonly settled: boolean; work: Promise<T> } {
  const state = { settled: false, work };
  work.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

/** Resolves once `predicate` holds; rejects after `timeoutMs` (a hang guard, not a speed check). */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Reads `read` until `accepted` holds for what it returned, and gives back that reading, or the
 * last one at the deadline: the test asserts on it, so a failure shows what was seen. What comes
 * and goes (a lock a prune round takes every second) is judged at the moment it was seen gone,
 * not by a read after it that may catch the next round.
 */
export async function untilReading<T>(
  read: () => Promise<T>,
  accepted: (reading: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  let reading = await read();
  const deadline = Date.now() + timeoutMs;
  while (!accepted(reading) && Date.now() <= deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    reading = await read();
  }
  return reading;
}

/**
 * Resolves once the clock has entered the next whole second. A JWT's `iat` counts whole
 * seconds, so a token issued in the second of a revocation counts as issued before it; a
 * test that needs a token issued after an event waits for this after the event's answer.
 */
export function untilNextSecond(): Promise<void> {
  const next = Math.floor(Date.now() / 1000) * 1000 + 1000;
  return until(() => Date.now() >= next, 2_000);
}
