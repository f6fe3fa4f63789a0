/**
 * Why better-sqlite3: the same session workload on the two Node SQLite drivers, driven
 * directly (TypeORM 1.x dropped its `sqlite3` driver; sqlite3 comes from bench/deps).
 * Ported from the former bench/sqlite-drivers.bench.mjs.
 */
import { tempHome } from '@bodhi/testing';
import Database from 'better-sqlite3';
import * as path from 'node:path';
import type { BenchConfig } from './config.js';
import { loadSqlite3, Sqlite3Statement } from './deps.js';
import { loggedInSession, sessionIds } from './fixtures.js';
import { progress, spread, Spread } from './util.js';

const DDL =
  'CREATE TABLE s (id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL, expires_at INTEGER NOT NULL, user_id TEXT);' +
  'CREATE INDEX s_exp ON s (expires_at); CREATE INDEX s_user ON s (user_id)';
const UPSERT =
  'INSERT INTO s (id, data, expires_at, user_id) VALUES (?, ?, ?, ?) ' +
  'ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at, user_id = excluded.user_id';
const GET = 'SELECT data FROM s WHERE id = ? AND expires_at > ?';

type DriverOp = 'set' | 'get';

export interface DriversResult {
  ops: number;
  reps: number;
  rows: { op: string; betterSqlite3: Spread; sqlite3: Spread; ratio: number }[];
}

function tempDb() {
  const scratch = tempHome('bodhi-bench-drivers-');
  return { file: path.join(scratch.dir, 's.sqlite'), remove: scratch.remove };
}

async function betterRun(op: DriverOp, ids: string[], data: string): Promise<number> {
  const { file, remove } = tempDb();
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(DDL);
    const up = db.prepare(UPSERT);
    const get = db.prepare(GET);
    const exp = Date.now() + 3_600_000;
    if (op === 'get') for (const id of ids) up.run(id, data, exp, 'u');
    const t0 = performance.now();
    if (op === 'set') for (const id of ids) up.run(id, data, exp, 'u');
    else for (const id of ids) get.get(id, Date.now());
    return performance.now() - t0;
  } finally {
    db.close();
    remove();
  }
}

async function sqlite3Run(op: DriverOp, ids: string[], data: string): Promise<number> {
  const sqlite3 = loadSqlite3();
  const { file, remove } = tempDb();
  const db = new sqlite3.Database(file);
  const stmt = (s: Sqlite3Statement, method: 'run' | 'get', args: unknown[]) =>
    new Promise<void>((resolve, reject) =>
      s[method](...args, (e: Error | null) => (e ? reject(e) : resolve())),
    );
  try {
    await new Promise<void>((resolve, reject) =>
      db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; ' + DDL, (e) =>
        e ? reject(e) : resolve(),
      ),
    );
    const up = db.prepare(UPSERT);
    const get = db.prepare(GET);
    const exp = Date.now() + 3_600_000;
    if (op === 'get') for (const id of ids) await stmt(up, 'run', [id, data, exp, 'u']);
    const t0 = performance.now();
    if (op === 'set') for (const id of ids) await stmt(up, 'run', [id, data, exp, 'u']);
    else for (const id of ids) await stmt(get, 'get', [id, Date.now()]);
    const ms = performance.now() - t0;
    await new Promise<void>((resolve) => up.finalize(() => get.finalize(resolve)));
    return ms;
  } finally {
    await new Promise<void>((resolve) => db.close(() => resolve()));
    remove();
  }
}

export async function runDriversBench(config: BenchConfig): Promise<DriversResult> {
  const { ops, reps } = config.drivers;
  const data = JSON.stringify(loggedInSession());
  const rows: DriversResult['rows'] = [];
  for (const op of ['set', 'get'] as const) {
    const result: Record<string, Spread> = {};
    for (const [name, run] of [
      ['better-sqlite3', betterRun],
      ['sqlite3', sqlite3Run],
    ] as const) {
      await run(op, sessionIds(Math.min(ops, 500)), data); // warm-up, excluded
      const opsPerSec: number[] = [];
      for (let r = 0; r < reps; r++) {
        opsPerSec.push((ops / (await run(op, sessionIds(ops), data))) * 1000);
      }
      result[name] = spread(opsPerSec);
      progress(`drivers: ${op} on ${name}: ${Math.round(result[name].median)} ops/s`);
    }
    rows.push({
      op: op === 'set' ? 'set (upsert 1.7 KB)' : 'get (hit)',
      betterSqlite3: result['better-sqlite3'],
      sqlite3: result.sqlite3,
      ratio: result['better-sqlite3'].median / result.sqlite3.median,
    });
  }
  return { ops, reps, rows };
}
