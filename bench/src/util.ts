import { Logger, LoggerService } from '@nestjs/common';

const started = performance.now();

/** Progress goes to stderr (stdout carries only the final table). */
export function progress(message: string): void {
  const s = Math.round((performance.now() - started) / 1000);
  const stamp = `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  process.stderr.write(`[bench ${stamp}] ${message}\n`);
}

/** Nest's logger prints to stdout; in the bench only warnings and errors, and to stderr. */
class StderrLogger implements LoggerService {
  log(): void {
    // store-ready messages and the like: not progress
  }
  warn(message: unknown, context?: string): void {
    process.stderr.write(`[bench] warn ${context ?? ''}: ${String(message)}\n`);
  }
  error(message: unknown, context?: string): void {
    process.stderr.write(`[bench] error ${context ?? ''}: ${String(message)}\n`);
  }
}

export function quietNestLogger(): void {
  Logger.overrideLogger(new StderrLogger());
}

const cleanups = new Set<() => Promise<unknown>>();

/** Registers work to undo on Ctrl-C / SIGTERM (drop schemas, stop servers); returns the unregister. */
export function onInterrupt(cleanup: () => Promise<unknown>): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/** On SIGINT/SIGTERM: run the registered cleanups, then exit 130 (a second signal exits at once). */
let interrupted = false;
export const wasInterrupted = () => interrupted;

export function cleanUpOnInterrupt(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      progress(`${signal}: dropping scratch schemas and files, stopping servers…`);
      void Promise.allSettled([...cleanups].map((cleanup) => cleanup())).then(() =>
        process.exit(130),
      );
    });
  }
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Every repetition, in run order. */
  reps: number[];
}

export function spread(values: number[]): Spread {
  if (values.length === 0) throw new Error('spread of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], reps: values };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Runs `n` operations with at most `concurrency` in flight; returns wall time and latencies. */
export async function runOps(
  n: number,
  concurrency: number,
  op: (i: number) => Promise<unknown>,
): Promise<{ ms: number; latencies: Float64Array }> {
  const latencies = new Float64Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const t = performance.now();
      await op(i);
      latencies[i] = performance.now() - t;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return { ms: performance.now() - t0, latencies };
}

export const round = (x: number, digits = 0) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};
