import { Logger } from '@nestjs/common';
import type { Worker } from 'node:worker_threads';
import type { DataSource } from 'typeorm';
import { startWorker } from '../../../util/worker.util.js';
import type {
  CheckpointReply,
  CheckpointRequest,
  CheckpointWorkerData,
} from './sqlite-wal-checkpoint.worker.js';
import { sqliteHandle } from './sqlite-handle.js';

/**
 * WAL frames (64 MB of 4 KB pages) the request thread lets pile up before it checkpoints by
 * itself (SQLite's default is 1,000). The WAL restarts from its beginning only when a write
 * finds it fully copied back, which under a continuous stream of writes (a prune) may never
 * happen; then this backstop is what resets it, a stall of some tens of ms. Measured on a
 * 200k-row prune: batch p99 12.7 ms at 4,000 frames, 1.3 ms at 16,000. It also bounds the
 * WAL if the worker stops.
 */
export const SQLITE_WAL_BACKSTOP_PAGES = 16_000;
/** A WAL file larger than this is truncated back after a checkpoint resets it. */
export const SQLITE_JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024;

/** Checkpoint cadence: right after writes, then backing off while the WAL stays unchanged. */
const MIN_DELAY_MS = 5;
const MAX_DELAY_MS = 1000;

/**
 * Moves SQLite's WAL checkpoints off the request thread. With `synchronous = NORMAL` a
 * commit does not fsync; the cost lands on checkpoints, which SQLite runs inside whichever
 * commit crosses the threshold — so every ~250th session write used to stall the event loop
 * for a copy and two fsyncs. A worker thread checkpoints continuously instead (writes
 * measured 1.2–1.4× faster), and the request thread keeps a higher threshold as a backstop.
 */
export class SqliteWalCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private stopping = false;
  private gone = false;
  private nextDrain = 0;
  private readonly drains = new Map<number, () => void>();

  private constructor(
    file: string,
    private readonly onFailure: (reason: string) => void,
  ) {
    const workerData: CheckpointWorkerData = {
      file,
      minDelayMs: MIN_DELAY_MS,
      maxDelayMs: MAX_DELAY_MS,
    };
    this.worker = startWorker(new URL('./sqlite-wal-checkpoint.worker.js', import.meta.url), {
      workerData,
    });
    // Never what keeps the process alive.
    this.worker.unref();
    this.worker.on('message', (m: CheckpointReply) => {
      if ('failed' in m) this.onFailure(m.failed);
      else this.settle(m.drained);
    });
    this.worker.on('error', (e) => this.onFailure(e.message));
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', (code) => {
        this.gone = true;
        if (!this.stopping) this.onFailure(`exited with code ${code}`);
        for (const id of [...this.drains.keys()]) this.settle(id);
        resolve();
      }),
    );
  }

  /**
   * Starts checkpointing `file` (a database already in WAL mode). `onFailure` runs once if
   * the worker stops by itself; the caller then restores SQLite's own checkpointing.
   */
  static start(
    file: string,
    onFailure: (reason: string) => void,
    logger = new Logger('SqliteWalCheckpointer'),
  ): SqliteWalCheckpointer {
    let failed = false;
    return new SqliteWalCheckpointer(file, (reason) => {
      if (failed) return;
      failed = true;
      logger.warn(`WAL checkpoint worker stopped (${reason}); checkpointing on the request thread`);
      onFailure(reason);
    });
  }

  /**
   * Resolves once the worker has run a checkpoint after this call: everything written before
   * it is back in the database file, so the next write restarts the WAL from its beginning
   * instead of the request thread having to. A long writer (the pruner) waits on this now
   * and then, keeping the WAL short while the event loop stays free. Resolves at once when
   * the worker has gone.
   */
  drain(): Promise<void> {
    if (this.gone || this.stopping) return Promise.resolve();
    const id = this.nextDrain++;
    return new Promise((resolve) => {
      this.drains.set(id, resolve);
      this.post(id);
    });
  }

  private settle(id: number): void {
    this.drains.get(id)?.();
    this.drains.delete(id);
  }

  /** Stops the worker and waits until its connection is closed. */
  stop(): Promise<void> {
    this.stopping = true;
    // Held until it has exited: a process closing its DataSource waits for the worker.
    this.worker.ref();
    // A no-op when the worker has already gone.
    this.post('stop');
    return this.exited;
  }

  /** Every message to the worker goes through here, typed as the worker reads it. */
  private post(request: CheckpointRequest): void {
    this.worker.postMessage(request);
  }
}

/** Batches of a prune between waits for the checkpoint worker (about 1–2k WAL frames). */
const WAL_DRAIN_EVERY_BATCHES = 10;

/** The checkpoint worker of each serving DataSource on a SQLite file. */
const checkpointers = new WeakMap<DataSource, SqliteWalCheckpointer>();

/**
 * Starts checkpointing the file of `dataSource` in a worker; on its failure SQLite's own
 * checkpoints resume on the request thread.
 */
export function startWalCheckpointer(dataSource: DataSource, file: string): void {
  const checkpointer = SqliteWalCheckpointer.start(file, () => {
    if (dataSource.isInitialized) sqliteHandle(dataSource).pragma('wal_autocheckpoint = 1000');
  });
  checkpointers.set(dataSource, checkpointer);
}

/** The checkpoint worker of `dataSource`, if one runs (a file, not `:memory:`). */
export function walCheckpointerOf(dataSource: DataSource): SqliteWalCheckpointer | undefined {
  return checkpointers.get(dataSource);
}

/**
 * Stops the worker of `dataSource` (its connection closed) before the request thread's
 * connection closes.
 */
export async function stopWalCheckpointer(dataSource: DataSource): Promise<void> {
  const checkpointer = checkpointers.get(dataSource);
  checkpointers.delete(dataSource);
  await checkpointer?.stop();
}

/**
 * A SQLite WAL only restarts when a write finds it all copied back, which a stream of
 * batches never lets happen; the request thread would then checkpoint it itself (a stall of
 * up to hundreds of ms). Letting the checkpoint worker catch up every few batches keeps it
 * short.
 */
export async function drainWalEvery(dataSource: DataSource, batch: number): Promise<void> {
  if (batch % WAL_DRAIN_EVERY_BATCHES === 0) await walCheckpointerOf(dataSource)?.drain();
}
