/**
 * The store at scale: a table of 1,000,000 sessions (bulk-loaded, not through the store)
 * against one of 1,000 — get latency, the per-user operations on a user with 100 sessions
 * (listing them, as a user's list of their sessions does; counting; logging out everywhere),
 * and pruning every row while a steady get load runs in the same process (as in the server,
 * where the pruner shares the event loop and the pool with request handling).
 */
import {
  DefaultSessionService,
  sessionKey,
  SessionPruner,
  SessionRevocations,
  type SessionDbKind,
} from '@bodhi/services';
import {
  createSessionDataSource,
  createSessionRevocations,
  createSessionStore,
  pgSessionKey,
  SessionLock,
  SessionStoreBackend,
  type ResolvedSessionOptions,
} from '@bodhi/services/testing';
import { percentile } from '@bodhi/testing';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { DataSource } from 'typeorm';
import type { BenchConfig } from './config.js';
import { oursOptions, openSqlite, openWorkspace, qualified, Workspace } from './contenders.js';
import { loggedInSession } from './fixtures.js';
import { gc, progress, runOps, sleep, spread, Spread } from './util.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Sessions the load reads while pruning runs; they outlive the pruner's clock. */
const HOT_ROWS = 1000;

/** Session id of bulk row `g`: 32 hex characters, as long as an express-session id. */
export const bulkId = (g: number) => createHash('md5').update(String(g)).digest('hex');
const hotId = (i: number) => `hot-${String(i).padStart(28, '0')}`;
/** What a logged-in row carries for its owner's list (v6 columns), as a login writes them. */
const DEVICE = {
  userAgent: 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  clientAddress: '203.0.113.0/24',
};

export interface LoadStats {
  /** Open-loop requests per second the load tried to issue. */
  rate: number;
  requests: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface PruneResult {
  method: string;
  rowsRemoved: number;
  seconds: number;
  rowsPerSec: number;
  batchSize: number;
  /** The same load before pruning started. */
  baseline: LoadStats;
  /** Requests scheduled while pruning ran. */
  duringPrune: LoadStats;
}

export interface ScaleBackendResult {
  backend: SessionDbKind;
  rows: number;
  smallRows: number;
  sessionsPerUser: number;
  sessionBytes: number;
  /** Bulk load; then, PostgreSQL only, the untimed settling of its write-back. */
  prefill: { method: string; seconds: number; settleSeconds: number };
  getSamples: number;
  reps: number;
  getSmall: { p50Ms: Spread; p99Ms: Spread };
  getLarge: { p50Ms: Spread; p99Ms: Spread };
  /** The big table, gets over a working set of `smallRows` sessions (diagnostic, no target). */
  getLargeHotSet: { p50Ms: Spread; p99Ms: Spread };
  /** listUserSessions of random users (each with `sessionsPerUser` rows), one call at a time. */
  listForUser: { calls: number; sessions: number; p50Ms: number; p99Ms: number };
  countForUser: { calls: number; sessions: number; p50Ms: number; maxMs: number };
  clearForUser: { calls: number; removed: number; p50Ms: number; maxMs: number };
  prune: PruneResult;
}

// ---- bulk loading ---------------------------------------------------------------------------

interface Fill {
  from: number;
  to: number; // exclusive
  expiresAt: number;
  /** Row `g` was created at `createdFrom + g` ms: distinct times, as the list sorts by them. */
  createdFrom: number;
  users: number;
  id: (g: number) => string;
  user: (g: number) => string;
}

async function bulkInsertPostgres(ws: Workspace, table: string, data: string, fill: Fill) {
  const chunk = 100_000;
  for (let from = fill.from; from < fill.to; from += chunk) {
    const to = Math.min(fill.to, from + chunk);
    await ws.sql(
      `INSERT INTO ${table} (id, data, expires_at, user_id, created_at, last_seen_at, user_agent, client_address) ` +
        `SELECT ${pgSessionKey('md5(g::text)')}, $1, $2::bigint, 'user-' || (g % $3), $4::bigint + g, $4::bigint + g, $5, $6 ` +
        'FROM generate_series($7::int, $8::int) g',
      [
        data,
        fill.expiresAt,
        fill.users,
        fill.createdFrom,
        DEVICE.userAgent,
        DEVICE.clientAddress,
        from,
        to - 1,
      ],
    );
    if (fill.to - fill.from > chunk) progress(`  … ${to.toLocaleString('en')} rows`);
  }
}

/**
 * SQLite: one connection, rollback journal and synchronous=OFF while loading (the file is
 * written once instead of WAL + checkpoint), prepared inserts in transactions of 100k rows;
 * the file goes back to WAL before the store opens it.
 */
function bulkInsertSqlite(file: string, data: string, fills: Fill[], hot?: Fill) {
  const db = openSqlite(file);
  try {
    db.pragma('journal_mode = DELETE');
    db.pragma('synchronous = OFF');
    const insert = db.prepare(
      'INSERT INTO "sessions" (id, data, expires_at, user_id, created_at, last_seen_at, user_agent, client_address) ' +
        'VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const load = db.transaction((from: number, to: number, fill: Fill) => {
      for (let g = from; g < to; g++) {
        const created = fill.createdFrom + g;
        insert.run(
          sessionKey(fill.id(g)),
          data,
          fill.expiresAt,
          fill.user(g),
          created,
          created,
          DEVICE.userAgent,
          DEVICE.clientAddress,
        );
      }
    });
    for (const fill of fills) {
      const chunk = 100_000;
      for (let from = fill.from; from < fill.to; from += chunk) {
        const to = Math.min(fill.to, from + chunk);
        load(from, to, fill);
        if (fill.to - fill.from > chunk) progress(`  … ${to.toLocaleString('en')} rows`);
      }
    }
    if (hot) load(hot.from, hot.to, hot);
    db.pragma('journal_mode = WAL');
  } finally {
    db.close();
  }
  // synchronous=OFF left the file's pages dirty in the OS cache; flush them now, or the
  // first WAL checkpoint (which fsyncs) pays for the whole load inside a timed operation.
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Buffers PostgreSQL has written to disk so far (pg_stat_io on 16+, pg_stat_bgwriter before). */
async function buffersWritten(ws: Workspace): Promise<number> {
  try {
    return Number((await ws.sql('SELECT coalesce(sum(writes), 0) AS n FROM pg_stat_io')).rows[0].n);
  } catch {
    const { rows } = await ws.sql(
      'SELECT buffers_checkpoint + buffers_clean + buffers_backend AS n FROM pg_stat_bgwriter',
    );
    return Number(rows[0].n);
  }
}

/**
 * After a bulk load PostgreSQL still holds dirty buffers (VACUUM's hint bits and visibility
 * map, the load's tail) that backends write out as reads evict them: p99 then measures the
 * load's write-back, not the table. Read at random (untimed) until a 2-second window writes
 * fewer than 200 buffers (cluster-wide: other users of the server count too), at most
 * `maxSeconds`; returns the seconds it took.
 */
async function settlePostgres(
  ws: Workspace,
  store: SessionStoreBackend,
  rows: number,
  maxSeconds: number,
) {
  const t0 = performance.now();
  while (performance.now() - t0 < maxSeconds * 1000) {
    const before = await buffersWritten(ws);
    const until = performance.now() + 2000;
    while (performance.now() < until)
      await store.findSession(bulkId(Math.floor(Math.random() * rows)));
    // Statistics reach the views with a short delay.
    await sleep(600);
    if ((await buffersWritten(ws)) - before < 200) break;
  }
  return (performance.now() - t0) / 1000;
}

interface Table {
  options: ResolvedSessionOptions;
  dataSource: DataSource;
  store: SessionStoreBackend;
  revocations: SessionRevocations;
  service: DefaultSessionService;
}

/** A migrated session table of `rows` live bulk rows (plus hot rows when asked), then opened. */
async function filledTable(
  ws: Workspace,
  name: string,
  rows: number,
  users: number,
  data: string,
  options: { hot?: boolean; expiresAt: number; settleSeconds: number },
): Promise<{ table: Table; seconds: number; method: string; settleSeconds: number }> {
  const resolved = oursOptions(ws, name);
  const fill: Fill = {
    from: 0,
    to: rows,
    expiresAt: options.expiresAt,
    createdFrom: Date.now() - HOUR,
    users,
    id: bulkId,
    user: (g) => `user-${g % users}`,
  };
  const hot: Fill | undefined = options.hot
    ? {
        from: 0,
        to: HOT_ROWS,
        expiresAt: Date.now() + 7 * DAY,
        createdFrom: Date.now() - HOUR,
        users: 1,
        id: hotId,
        user: () => 'user-hot',
      }
    : undefined;
  let seconds: number;
  let method: string;
  let dataSource: DataSource;
  if (ws.kind === 'sqlite') {
    // Our migrations make the table; the bulk load runs with the DataSource closed.
    await (await createSessionDataSource(resolved)).destroy();
    const t0 = performance.now();
    bulkInsertSqlite((resolved.target as { database: string }).database, data, [fill], hot);
    seconds = (performance.now() - t0) / 1000;
    method =
      'prepared INSERTs in 100k-row transactions (rollback journal, synchronous=OFF while loading), then back to WAL';
    dataSource = await createSessionDataSource(resolved);
  } else {
    dataSource = await createSessionDataSource(resolved);
    const table = qualified(resolved);
    const t0 = performance.now();
    await bulkInsertPostgres(ws, table, data, fill);
    if (hot) {
      await ws.sql(
        `INSERT INTO ${table} (id, data, expires_at, user_id, created_at) ` +
          `SELECT ${pgSessionKey(`'hot-' || lpad(g::text, 28, '0')`)}, $1, $2::bigint, 'user-hot', $3::bigint + g ` +
          'FROM generate_series(0, $4::int - 1) g',
        [data, hot.expiresAt, hot.createdFrom, HOT_ROWS],
      );
    }
    // What autovacuum would have done by the time a table is this big.
    await ws.sql(`VACUUM ANALYZE ${table}`);
    seconds = (performance.now() - t0) / 1000;
    method = 'INSERT … SELECT generate_series in 100k-row statements, then VACUUM ANALYZE';
  }
  const store = createSessionStore(dataSource, resolved);
  const revocations = createSessionRevocations(dataSource, resolved);
  const service = new DefaultSessionService(
    store,
    resolved,
    new SessionLock({ dataSource, kind: ws.kind }),
    revocations,
  );
  const settleSeconds =
    ws.kind === 'postgres' ? await settlePostgres(ws, store, rows, options.settleSeconds) : 0;
  return {
    table: { options: resolved, dataSource, store, revocations, service },
    seconds,
    method,
    settleSeconds,
  };
}

// ---- measurements -----------------------------------------------------------------------------

interface GetSeries {
  label: string;
  table: Table;
  rows: number;
  pick: () => string;
  p50: number[];
  p99: number[];
}

/**
 * Random ids over a table's `rows` bulk rows — or, with `hot`, over a fixed random subset of
 * that many sessions (a working set smaller than the table).
 */
function series(label: string, table: Table, rows: number, hot?: number): GetSeries {
  const subset = hot
    ? Array.from({ length: hot }, () => bulkId(Math.floor(Math.random() * rows)))
    : undefined;
  const pick = subset
    ? () => subset[Math.floor(Math.random() * subset.length)]
    : () => bulkId(Math.floor(Math.random() * rows));
  return { label, table, rows, pick, p50: [], p99: [] };
}

/**
 * Get latency, one call at a time, for several series measured in turns — a repetition of
 * each per round, the order rotating — so that the small and the big table are read under
 * the same machine conditions (the big table's bulk load leaves I/O behind it).
 */
async function getLatencies(all: GetSeries[], samples: number, reps: number): Promise<void> {
  for (const s of all) {
    // Warm-up, excluded.
    await runOps(
      Math.min(samples, 2000),
      1,
      async () => void (await s.table.store.findSession(s.pick())),
    );
  }
  for (let rep = 0; rep < reps; rep++) {
    for (const s of all.map((_, i) => all[(i + rep) % all.length])) {
      const ids = Array.from({ length: samples }, s.pick);
      let misses = 0;
      gc();
      const { latencies } = await runOps(samples, 1, async (i) => {
        if (!(await s.table.store.findSession(ids[i]))) misses++;
      });
      if (misses) throw new Error(`get, ${s.label}: ${misses} of ${samples} sessions missing`);
      s.p50.push(percentile(latencies, 0.5));
      s.p99.push(percentile(latencies, 0.99));
    }
  }
}

const latency = (s: GetSeries) => ({ p50Ms: spread(s.p50), p99Ms: spread(s.p99) });

/**
 * An open-loop get load: requests are issued on a fixed schedule whether or not earlier ones
 * finished, and each latency counts from its scheduled time — so time the event loop spends
 * blocked shows up in the numbers instead of silently thinning the load.
 */
function startLoad(store: SessionStoreBackend, rate: number) {
  const interval = 1000 / rate;
  const samples: { due: number; ms: number }[] = [];
  let errors = 0;
  let stopped = false;
  const inflight = new Set<Promise<void>>();
  const t0 = performance.now();
  let k = 0;
  const loop = (async () => {
    while (!stopped) {
      const now = performance.now();
      while (t0 + k * interval <= now) {
        const due = t0 + k * interval;
        const id = hotId(k % HOT_ROWS);
        k++;
        const p: Promise<void> = store.findSession(id).then(
          (s) => {
            if (!s) errors++;
            samples.push({ due, ms: performance.now() - due });
          },
          () => void errors++,
        );
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
      }
      await sleep(Math.max(0, t0 + k * interval - performance.now()));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await Promise.all(inflight);
    },
    /** Requests scheduled in [from, to) — at least the first 20 from `from` on. */
    stats(from: number, to: number): LoadStats {
      const end = Math.max(to, from + 20 * interval);
      const window = samples.filter((s) => s.due >= from && s.due < end).map((s) => s.ms);
      return {
        rate,
        requests: window.length,
        errors,
        p50Ms: percentile(window, 0.5),
        p99Ms: percentile(window, 0.99),
        maxMs: window.length ? Math.max(...window) : NaN,
      };
    },
  };
}

/**
 * `listUserSessions` latency (ms) of `calls` random users, one call at a time, after an
 * untimed warm-up: what a user's "Your sessions" page costs in a big table.
 */
async function listLatencies(
  table: Table,
  users: number,
  sessionsPerUser: number,
  calls: number,
): Promise<number[]> {
  const pick = () => `user-${Math.floor(Math.random() * users)}`;
  const list = async (user: string) => {
    const sessions = await table.service.listUserSessions(user);
    if (sessions.length !== sessionsPerUser)
      throw new Error(`${user}: listed ${sessions.length}, expected ${sessionsPerUser}`);
  };
  for (let i = 0; i < Math.min(calls, 100); i++) await list(pick());
  gc();
  const latencies: number[] = [];
  for (let i = 0; i < calls; i++) {
    const user = pick();
    const t = performance.now();
    await list(user);
    latencies.push(performance.now() - t);
  }
  return latencies;
}

/** A store whose clock runs a day ahead: every bulk row has expired for it, hot rows have not. */
function futureStore(table: Table): SessionStoreBackend {
  const { options } = table;
  return new SessionStoreBackend(table.dataSource, {
    ref: { kind: options.target.kind, table: options.tableName, schema: options.schema },
    ttlMs: options.ttlMs,
    maxLifetimeMs: options.maxLifetimeMs,
    loginTtlMs: options.loginTtlMs,
    maxDataBytes: options.maxDataBytes,
    now: () => Date.now() + DAY,
  });
}

async function pruneUnderLoad(
  table: Table,
  config: BenchConfig,
  method: string,
  prune: () => Promise<number>,
): Promise<PruneResult> {
  const load = startLoad(table.store, config.scale.loadRate);
  const t0 = performance.now();
  await sleep(config.scale.baselineSeconds * 1000);
  const start = performance.now();
  const rowsRemoved = await prune();
  const end = performance.now();
  // Keep the load up for the shortest window the stats read (a prune of a few rows).
  await sleep(Math.max(0, start + (20 * 1000) / config.scale.loadRate - performance.now()));
  await load.stop();
  const seconds = (end - start) / 1000;
  return {
    method,
    rowsRemoved,
    seconds,
    rowsPerSec: rowsRemoved / seconds,
    batchSize: table.options.pruneBatchSize,
    baseline: load.stats(t0, start),
    duringPrune: load.stats(start, end),
  };
}

export async function runScaleBench(
  kind: SessionDbKind,
  config: BenchConfig,
): Promise<ScaleBackendResult> {
  const { rows, smallRows, sessionsPerUser, reps, userOps, listOps } = config.scale;
  const samples = config.scale.getSamples[kind];
  const session = loggedInSession();
  const data = JSON.stringify(session);
  const users = Math.max(1, Math.floor(rows / sessionsPerUser));
  const ws = await openWorkspace(kind, config.pgUrl);
  const opened: Table[] = [];
  try {
    progress(`scale/${kind}: ${smallRows.toLocaleString('en')}-row table`);
    const small = await filledTable(ws, 'small', smallRows, smallRows, data, {
      expiresAt: Date.now() + 2 * HOUR,
      settleSeconds: config.scale.settleSeconds,
    });
    opened.push(small.table);

    progress(
      `scale/${kind}: bulk-loading ${rows.toLocaleString('en')} sessions (${users} users × ${sessionsPerUser})`,
    );
    const large = await filledTable(ws, 'large', rows, users, data, {
      hot: true,
      expiresAt: Date.now() + 2 * HOUR,
      settleSeconds: config.scale.settleSeconds,
    });
    opened.push(large.table);
    progress(
      `scale/${kind}: loaded in ${large.seconds.toFixed(1)} s` +
        (kind === 'postgres' ? `, write-back settled in ${large.settleSeconds.toFixed(0)} s` : '') +
        `; get latency at ${smallRows.toLocaleString('en')} and ${rows.toLocaleString('en')} rows, in turns`,
    );
    const smallSeries = series('small table', small.table, smallRows);
    const largeSeries = series('big table', large.table, rows);
    const hotSeries = series('big table, hot set', large.table, rows, smallRows);
    await getLatencies([smallSeries, largeSeries, hotSeries], samples, reps);
    const getSmall = latency(smallSeries);
    const getLarge = latency(largeSeries);
    const getLargeHotSet = latency(hotSeries);
    await small.table.dataSource.destroy();
    opened.splice(opened.indexOf(small.table), 1);

    progress(
      `scale/${kind}: listUserSessions of ${listOps} random users with ${sessionsPerUser} sessions`,
    );
    const listMs = await listLatencies(large.table, users, sessionsPerUser, listOps);

    progress(
      `scale/${kind}: countSessionsForUser / clearSessionsForUser on users with ${sessionsPerUser} sessions`,
    );
    const countMs: number[] = [];
    const clearMs: number[] = [];
    for (let u = 0; u < userOps; u++) {
      const user = `user-${u}`;
      let t = performance.now();
      const count = await large.table.service.countSessionsForUser(user);
      countMs.push(performance.now() - t);
      t = performance.now();
      const removed = await large.table.service.clearSessionsForUser(user);
      clearMs.push(performance.now() - t);
      if (count !== sessionsPerUser || removed !== sessionsPerUser)
        throw new Error(
          `${user}: counted ${count}, cleared ${removed}, expected ${sessionsPerUser}`,
        );
    }

    const left = rows - userOps * sessionsPerUser;
    progress(
      `scale/${kind}: SessionPruner.pruneOnce() over ${left.toLocaleString('en')} expired rows, get load ${config.scale.loadRate}/s`,
    );
    const pruner = new SessionPruner(
      futureStore(large.table),
      large.table.revocations,
      large.table.dataSource,
      large.table.options,
    );
    const prune = await pruneUnderLoad(large.table, config, 'SessionPruner.pruneOnce()', () =>
      pruner.pruneOnce(),
    );
    if (prune.rowsRemoved !== left)
      throw new Error(`pruning removed ${prune.rowsRemoved} rows, expected ${left}`);
    progress(
      `scale/${kind}: pruned in ${prune.seconds.toFixed(1)} s; load p99 ${prune.duringPrune.p99Ms.toFixed(1)} ms ` +
        `(baseline ${prune.baseline.p99Ms.toFixed(1)} ms)`,
    );
    await large.table.dataSource.destroy();
    opened.pop();

    return {
      backend: kind,
      rows,
      smallRows,
      sessionsPerUser,
      sessionBytes: Buffer.byteLength(data),
      prefill: { method: large.method, seconds: large.seconds, settleSeconds: large.settleSeconds },
      getSamples: samples,
      reps,
      getSmall,
      getLarge,
      getLargeHotSet,
      listForUser: {
        calls: listOps,
        sessions: sessionsPerUser,
        p50Ms: percentile(listMs, 0.5),
        p99Ms: percentile(listMs, 0.99),
      },
      countForUser: {
        calls: userOps,
        sessions: sessionsPerUser,
        p50Ms: percentile(countMs, 0.5),
        maxMs: Math.max(...countMs),
      },
      clearForUser: {
        calls: userOps,
        removed: sessionsPerUser,
        p50Ms: percentile(clearMs, 0.5),
        maxMs: Math.max(...clearMs),
      },
      prune,
    };
  } finally {
    for (const t of opened) await t.dataSource.destroy().catch(() => undefined);
    await ws.close();
  }
}
