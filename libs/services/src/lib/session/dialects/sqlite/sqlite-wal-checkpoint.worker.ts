/**
 * The SQLite WAL checkpoint worker thread, started by `SqliteWalCheckpointer`. It opens its
 * own connection to the file and runs PASSIVE checkpoints, which never wait for or block the
 * request thread's reads and writes: right after writes, then backing off while the WAL
 * stays unchanged.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

export interface CheckpointWorkerData {
  file: string;
  minDelayMs: number;
  maxDelayMs: number;
}

/** In: `'stop'`, or a drain id asking for a checkpoint now (answered with `{ drained: id }`). */
export type CheckpointRequest = 'stop' | number;

/**
 * Out: a drain answered, or `{ failed }`: the worker has stopped and the request thread takes
 * checkpointing back.
 */
export type CheckpointReply = { drained: number } | { failed: string };

if (!parentPort) throw new Error('sqlite-wal-checkpoint.worker runs as a worker thread');
const port = parentPort;
const { file, minDelayMs, maxDelayMs } = workerData as CheckpointWorkerData;
const reply = (message: CheckpointReply) => port.postMessage(message);
const failed = (e: unknown): CheckpointReply => ({
  failed: e instanceof Error ? e.message : String(e),
});

/** Checkpoints the open database until stopped or a checkpoint fails. */
function serve(db: Database.Database): void {
  let timer: NodeJS.Timeout | undefined;
  let delay = minDelayMs;
  let lastLog = -1;
  const stop = () => {
    clearTimeout(timer);
    db.close();
    port.close();
  };
  const fail = (e: unknown) => {
    reply(failed(e));
    stop();
  };
  const checkpoint = () => {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[];
    delay = result.log !== lastLog ? minDelayMs : Math.min(delay * 2, maxDelayMs);
    lastLog = result.log;
  };
  const tick = () => {
    try {
      checkpoint();
      timer = setTimeout(tick, delay);
    } catch (e) {
      fail(e);
    }
  };
  port.on('message', (m: CheckpointRequest) => {
    if (m === 'stop') return stop();
    try {
      checkpoint();
      reply({ drained: m });
    } catch (e) {
      fail(e);
    }
  });
  tick();
}

/** The worker's own connection to the file; undefined (reported, the worker ends) if it cannot open. */
function open(): Database.Database | undefined {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true });
    db.pragma('busy_timeout = 1000');
    return db;
  } catch (e) {
    db?.close();
    reply(failed(e));
    port.close();
    return undefined;
  }
}

const db = open();
if (db) serve(db);
