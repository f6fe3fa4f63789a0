import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pg from 'pg';
import { BENCH_ROOT, type BenchConfig, STORE_OPS, type StoreOp } from './config.js';
import type { DriversResult } from './drivers-bench.js';
import type { HttpResult } from './http-bench.js';
import type { ObservabilityResult } from './observability-bench.js';
import type { RedactionResult } from './redaction-bench.js';
import type { ScaleBackendResult } from './scale-bench.js';
import type { StoreBackendResult } from './store-bench.js';
import type { Spread } from './util.js';

export interface Machine {
  cpus: number;
  cpuModel: string;
  ramGiB: number;
  os: string;
  node: string;
  postgres: string;
  postgresSettings: Record<string, string>;
  sqlite: string;
  packages: Record<string, string>;
  /** 1-minute load average when the run started: others' work on a shared machine skews results. */
  loadAverageAtStart: number;
}

export interface Target {
  section: 'store' | 'http' | 'observability' | 'scale';
  backend: 'postgres' | 'sqlite';
  /** What is compared, e.g. "get (hit) c=32: ours / raw pg". */
  what: string;
  measured: number;
  /** `>=` limit or `<=` limit. */
  op: '>=' | '<=';
  limit: number;
  unit: '×' | 'ms';
  pass: boolean;
}

export interface BenchResults {
  schemaVersion: 1;
  mode: BenchConfig['mode'];
  startedAt: string;
  durationSeconds: number;
  machine: Machine;
  config: Omit<BenchConfig, 'outDir' | 'pgUrl'>;
  drivers?: DriversResult;
  store: Partial<Record<'postgres' | 'sqlite', StoreBackendResult>>;
  http?: HttpResult;
  observability?: ObservabilityResult;
  redaction?: RedactionResult;
  scale: Partial<Record<'postgres' | 'sqlite', ScaleBackendResult>>;
  targets: Target[];
}

// ---- machine ------------------------------------------------------------------------------------

export async function describeMachine(pgUrl: string): Promise<Machine> {
  const client = new pg.Client({ connectionString: pgUrl });
  let postgres = 'unreachable';
  const postgresSettings: Record<string, string> = {};
  try {
    await client.connect();
    postgres = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]
      .server_version;
    for (const name of [
      'shared_buffers',
      'fsync',
      'synchronous_commit',
      'full_page_writes',
      'max_connections',
    ]) {
      postgresSettings[name] = (await client.query(`SHOW ${name}`)).rows[0][name];
    }
  } catch {
    // reported as unreachable; the sections that need it fail on their own
  } finally {
    await client.end().catch(() => undefined);
  }
  const db = new Database(':memory:');
  const sqlite = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  db.close();
  // Read from node_modules directly: not every package exports its package.json.
  const version = (root: string, name: string) => {
    try {
      const file = path.join(root, 'node_modules', name, 'package.json');
      return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
    } catch {
      return 'not installed';
    }
  };
  const rootDir = path.join(BENCH_ROOT, '..');
  const depsDir = path.join(BENCH_ROOT, 'deps');
  const packages: Record<string, string> = {};
  for (const name of [
    'better-sqlite3',
    'pg',
    'typeorm',
    'express-session',
    'connect-pg-simple',
    'better-sqlite3-session-store',
    'autocannon',
  ])
    packages[name] = version(rootDir, name);
  for (const name of ['connect-typeorm', 'sqlite3']) packages[name] = version(depsDir, name);
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    ramGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres,
    postgresSettings,
    sqlite,
    packages,
    loadAverageAtStart: os.loadavg()[0],
  };
}

// ---- targets ------------------------------------------------------------------------------------

const median = (
  r: StoreBackendResult,
  contender: string,
  op: StoreOp,
  concurrency: number,
): number | undefined =>
  r.measurements.find(
    (m) => m.contender === contender && m.op === op && m.concurrency === concurrency,
  )?.opsPerSec.median;

const PG_SET_GET: StoreOp[] = ['set (new)', 'set (update)', 'get (hit)', 'get (miss)'];

/** The store-level checks of one (backend, op, c) row. */
function storeChecks(r: StoreBackendResult, op: StoreOp, c: number): Target[] {
  const ours = median(r, 'ours', op, c) ?? NaN;
  const out: Target[] = [];
  const check = (versus: string, label: string, limit: number) => {
    const other = median(r, versus, op, c);
    if (other === undefined) return;
    const measured = ours / other;
    out.push({
      section: 'store',
      backend: r.backend,
      what: `${op} c=${c}: ours / ${label}`,
      measured,
      op: '>=',
      limit,
      unit: '×',
      pass: measured >= limit,
    });
  };
  if (r.backend === 'postgres') {
    check('raw', 'raw pg', 0.9);
    if (c === 32 && PG_SET_GET.includes(op)) check('connect-pg-simple', 'connect-pg-simple', 1.2);
  } else {
    check('better-sqlite3-session-store', 'better-sqlite3-session-store', 1.0);
    check('raw', 'raw better-sqlite3', 0.5);
  }
  check('connect-typeorm', 'connect-typeorm', 2);
  return out;
}

/**
 * The HTTP targets against MemoryStore, by configuration: the store's own reads, and with
 * the session cache (issue #17: at least MemoryStore's req/s, p99 within 10%).
 */
const HTTP_GOALS = [
  { key: 'postgres', label: 'PostgreSQL store', reqPerSec: 0.85, p99: 1.3 },
  { key: 'postgres-cache', label: 'PostgreSQL store + cache', reqPerSec: 1.0, p99: 1.1 },
] as const;

const httpTargetWhat = (metric: 'req/s' | 'p99', goal: (typeof HTTP_GOALS)[number]) =>
  `${metric}: ${goal.label} / MemoryStore`;

/** The HTTP targets of the configuration `key`. */
function httpTargets(results: BenchResults, key: string): Target[] {
  const goal = HTTP_GOALS.find((g) => g.key === key);
  if (!goal) return [];
  const whats = [httpTargetWhat('req/s', goal), httpTargetWhat('p99', goal)];
  return results.targets.filter((x) => x.section === 'http' && whats.includes(x.what));
}

export function evaluateTargets(results: Omit<BenchResults, 'targets'>): Target[] {
  const targets: Target[] = [];
  for (const r of Object.values(results.store)) {
    if (!r) continue;
    for (const c of results.config.store.concurrency)
      for (const op of STORE_OPS) targets.push(...storeChecks(r, op, c));
  }
  const http = results.http;
  const memHttp = http?.configs.find((c) => c.key === 'memory');
  for (const goal of HTTP_GOALS) {
    const c = http?.configs.find((x) => x.key === goal.key);
    if (!c || !memHttp) continue;
    const rps = c.reqPerSec.median / memHttp.reqPerSec.median;
    const p99 = c.p99Ms.median / memHttp.p99Ms.median;
    targets.push(
      {
        section: 'http',
        backend: 'postgres',
        what: httpTargetWhat('req/s', goal),
        measured: rps,
        op: '>=',
        limit: goal.reqPerSec,
        unit: '×',
        pass: rps >= goal.reqPerSec,
      },
      {
        section: 'http',
        backend: 'postgres',
        what: httpTargetWhat('p99', goal),
        measured: p99,
        op: '<=',
        limit: goal.p99,
        unit: '×',
        pass: p99 <= goal.p99,
      },
    );
  }
  for (const row of results.observability?.rows ?? []) {
    const measured = row.on.reqPerSec.median / row.off.reqPerSec.median;
    targets.push({
      section: 'observability',
      backend: row.backend,
      what: `req/s, ${row.load} load: metrics + JSON logs on / off`,
      measured,
      op: '>=',
      limit: 0.95,
      unit: '×',
      pass: measured >= 0.95,
    });
  }
  for (const s of Object.values(results.scale)) {
    if (!s) continue;
    const ratio = s.getLarge.p99Ms.median / s.getSmall.p99Ms.median;
    targets.push({
      section: 'scale',
      backend: s.backend,
      what: `get p99 at ${count(s.rows)} rows / at ${count(s.smallRows)} rows`,
      measured: ratio,
      op: '<=',
      limit: 1.2,
      unit: '×',
      pass: ratio <= 1.2,
    });
    targets.push({
      section: 'scale',
      backend: s.backend,
      what: `concurrent get p99 while ${s.prune.method} removes ${count(s.prune.rowsRemoved)} rows`,
      measured: s.prune.duringPrune.p99Ms,
      op: '<=',
      limit: 50,
      unit: 'ms',
      pass: s.prune.duringPrune.p99Ms <= 50,
    });
  }
  return targets;
}

// ---- markdown -----------------------------------------------------------------------------------

const count = (n: number) => n.toLocaleString('en');
const k = (n: number) =>
  n >= 10_000
    ? `${(n / 1000).toFixed(0)}k`
    : n >= 1000
      ? `${(n / 1000).toFixed(1)}k`
      : n.toFixed(0);
const opsCell = (s?: Spread) =>
  s ? `${count(Math.round(s.median))} (${k(s.min)}–${k(s.max)})` : '–';
const ms = (x: number) =>
  x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3);
const msCell = (s: Spread) =>
  s.reps.length > 1 ? `${ms(s.median)} (${ms(s.min)}–${ms(s.max)})` : ms(s.median);
const ratio = (x: number) => `${x.toFixed(2)}×`;
const mark = (pass: boolean) => (pass ? '✓' : '✗');
const BACKEND = { postgres: 'PostgreSQL', sqlite: 'SQLite' } as const;

function storeTable(r: StoreBackendResult, concurrency: number[]): string[] {
  const peers = r.contenders.filter((c) => c.role === 'peer');
  const variants = r.contenders.filter((c) => c.role === 'variant');
  const rawName = r.contenders.find((c) => c.role === 'raw')?.name ?? 'raw';
  const lines = [
    `| op | c | ours | ${variants.map((v) => `${v.name} | `).join('')}${rawName} | ${peers.map((p) => p.name).join(' | ')} | ours / raw | ours / best peer | target |`,
    `|---|--:|--:|${variants.map(() => '--:|').join('')}--:|${peers.map(() => '--:|').join('')}--:|---|---|`,
  ];
  for (const c of concurrency) {
    for (const op of STORE_OPS) {
      const cell = (key: string) =>
        opsCell(
          r.measurements.find((m) => m.contender === key && m.op === op && m.concurrency === c)
            ?.opsPerSec,
        );
      const ours = median(r, 'ours', op, c) ?? NaN;
      const rawOps = median(r, 'raw', op, c) ?? NaN;
      const best = peers
        .map((p) => ({ p, v: median(r, p.key, op, c) ?? 0 }))
        .sort((a, b) => b.v - a.v)[0];
      const checks = storeChecks(r, op, c);
      const target = checks
        .map(
          (t) =>
            `${mark(t.pass)} ${short(t.what)} ${ratio(t.measured)} ${t.op === '>=' ? '≥' : '≤'} ${t.limit}`,
        )
        .join('<br>');
      lines.push(
        `| ${op} | ${c} | ${cell('ours')} | ${variants.map((v) => `${cell(v.key)} | `).join('')}${cell('raw')} | ${peers.map((p) => cell(p.key)).join(' | ')} | ` +
          `${ratio(ours / rawOps)} | ${ratio(ours / best.v)} (${best.p.name}) | ${target} |`,
      );
    }
  }
  return lines;
}

const scaleTarget = (results: BenchResults, s: ScaleBackendResult, prefix: string) =>
  results.targets.find(
    (x) => x.section === 'scale' && x.backend === s.backend && x.what.startsWith(prefix),
  );

/** "get (hit) c=1: ours / raw pg" → "vs raw pg". */
const short = (what: string) => `vs ${what.split(' / ').pop()}`;

const LOADS = {
  plain: 'plain',
  refresh: (ttl: number) => `refresh (${ttl} s tokens)`,
} as const;

function observabilityTable(results: BenchResults, o: ObservabilityResult): string[] {
  const out = [
    '## Observability: metrics and JSON logs on against off',
    '',
    `autocannon, \`${o.endpoint}\`, ${o.connections} connections each with its own logged-in session, ${o.seconds} s per run ` +
      `after a ${o.warmupSeconds} s warm-up, median of ${o.reps} runs (min–max); each off/on pair runs back to back, order alternating. ` +
      'On: BODHI_METRICS=on, BODHI_LOG_FORMAT=json, BODHI_LOG_LEVEL=info (a request line each), ' +
      `\`GET /metrics\` scraped every ${o.scrapeIntervalMs} ms during the load. Off: BODHI_METRICS=off, JSON at warn. ` +
      "Each server's stdout is a file in its temp dir (the logger's synchronous writes to fd 1 go to disk, as to a container's log file). " +
      `The refresh load's tokens live ${o.refreshTokenTtlSeconds} s, so each session refreshes through the provider about once a second.`,
    '',
    '| backend | load | mode | req/s | p50 ms | p99 ms | server CPU µs/request | refreshes/s | request lines/request | log bytes/request | scrapes | on / off req/s | on / off p99 | target |',
    '|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|',
  ];
  for (const row of o.rows) {
    const t = results.targets.find(
      (x) =>
        x.section === 'observability' &&
        x.backend === row.backend &&
        x.what.includes(`${row.load} load`),
    );
    const load = row.load === 'plain' ? LOADS.plain : LOADS.refresh(o.refreshTokenTtlSeconds);
    for (const mode of ['off', 'on'] as const) {
      const m = row[mode];
      const ratios =
        mode === 'on'
          ? `${ratio(m.reqPerSec.median / row.off.reqPerSec.median)} | ${ratio(m.p99Ms.median / row.off.p99Ms.median)} | ` +
            `${t ? `${mark(t.pass)} ≥ ${t.limit}×` : ''}`
          : ' | | ';
      out.push(
        `| ${BACKEND[row.backend]} | ${load} | ${mode} | ${opsCell(m.reqPerSec)} | ${msCell(m.p50Ms)} | ${msCell(m.p99Ms)} | ` +
          `${Number.isFinite(m.serverCpuUsPerRequest) ? Math.round(m.serverCpuUsPerRequest) : '–'} | ${m.refreshesPerSec.toFixed(1)} | ` +
          `${m.requestLinesPerRequest.toFixed(2)} | ${Math.round(m.logBytesPerRequest)} | ${m.scrapes} | ${ratios} |`,
      );
    }
  }
  out.push('');
  return out;
}

function redactionTable(r: RedactionResult): string[] {
  const out = [
    '## Hostile URLs and the log (issue #28)',
    '',
    `${r.attackers} requests at once for a path (a 404, logged at warn with its path), ${r.rounds} rounds, ` +
      'while one client pings `GET /bodhi/v1/ping` back to back on a connection of its own; ' +
      `"idle": the same pings for ${r.idleSeconds} s before. Each server first answers the two controls' rounds untimed (warm-up). Latency of the pings, ms; ` +
      'each server writes its log (BODHI_LOG_LEVEL=warn) to a file.',
    '',
    '| server | path | idle p50 / p99 / max | under attack p50 / p99 / max | worst ping per round | attack wall time per round | log bytes / request | statuses |',
    '|---|---|--:|--:|--:|--:|--:|---|',
  ];
  for (const row of r.rows) {
    const l = (s: { p50Ms: number; p99Ms: number; maxMs: number }) =>
      `${ms(s.p50Ms)} / ${ms(s.p99Ms)} / ${ms(s.maxMs)}`;
    out.push(
      `| ${BACKEND[row.backend]}, ${row.logFormat} logs | \`${row.path}\` | ${l(row.idle)} | ${l(row.underAttack)} | ` +
        `${row.roundMaxMs.map(ms).join(', ')} | ${row.attackMs.map(ms).join(', ')} | ${count(row.logBytesPerRequest)} | ` +
        `${Object.entries(row.statuses)
          .map(([code, n]) => `${n} × ${code}`)
          .join(', ')} |`,
    );
  }
  out.push('');
  return out;
}

export function renderMarkdown(results: BenchResults): string {
  const { machine: m, config } = results;
  const out: string[] = [];
  const failed = results.targets.filter((t) => !t.pass);
  out.push(
    `# Session store benchmark (${results.mode === 'quick' ? 'QUICK mode — harness check only, numbers not meaningful' : 'full run'})`,
    '',
    `${results.startedAt}, ${(results.durationSeconds / 60).toFixed(1)} min. ` +
      `Machine: ${m.cpus} × ${m.cpuModel}, ${m.ramGiB} GiB RAM, ${m.os}; Node ${m.node}; ` +
      `PostgreSQL ${m.postgres} (${Object.entries(m.postgresSettings)
        .map(([key, v]) => `${key}=${v}`)
        .join(', ')}); ` +
      `SQLite ${m.sqlite} (better-sqlite3 ${m.packages['better-sqlite3']}). Load average at start ${m.loadAverageAtStart.toFixed(2)}.`,
    '',
    `Targets: ${results.targets.length - failed.length} of ${results.targets.length} met.` +
      (failed.length
        ? ` Missed: ${failed.map((t) => `${BACKEND[t.backend]} ${t.what} = ${t.unit === 'ms' ? `${ms(t.measured)} ms` : ratio(t.measured)} (limit ${t.op === '>=' ? '≥' : '≤'} ${t.limit}${t.unit === 'ms' ? ' ms' : '×'})`).join('; ')}.`
        : ''),
    '',
  );

  for (const kind of ['postgres', 'sqlite'] as const) {
    const r = results.store[kind];
    if (!r) continue;
    out.push(
      `## Store level — ${BACKEND[kind]}`,
      '',
      `ops/s through the express-session Store callback API: median of ${r.reps} repetitions (min–max), ` +
        `${count(r.opsPerRep)} operations per op per repetition after a ${r.warmupOps}-op warm-up (excluded), ` +
        `c = operations in flight, session ${count(r.sessionBytes)} bytes of JSON. ` +
        'Each repetition: a fresh table per contender, then phase by phase — set (new) → set (update) → get (hit) → get (miss) → touch → destroy over the same sessions — ' +
        'each phase run on every contender back to back (order rotating per repetition), so machine drift hits all alike.',
      '',
      ...storeTable(r, config.store.concurrency),
      '',
    );
  }

  if (results.http) {
    const h = results.http;
    const mem = h.configs.find((c) => c.key === 'memory');
    out.push(
      '## HTTP level',
      '',
      `autocannon, \`${h.endpoint}\` with a logged-in cookie (real login through apps/dev-auth-server; ` +
        `JWT verified on every request; express-session get + touch per request), ${h.connections} connections ` +
        `each with its own session, ${h.seconds} s per run after a ${h.warmupSeconds} s warm-up, median of ${h.reps} runs (min–max). ` +
        'Each server is a separate process; autocannon runs in the bench process. ' +
        '"ours, PostgreSQL" (and its what-if) runs with BODHI_SESSION_CACHE=off, a database read per request; ' +
        '"+ cache" with the session cache on, as shipped (metrics off); its what-if with BODHI_METRICS=on gives the hit rate, its /metrics read before and after each timed run, not during.',
      '',
      '| server | req/s | p50 ms | p99 ms | req/s vs MemoryStore | p99 vs MemoryStore | CPU µs/request: server · PostgreSQL · autocannon | target |',
      '|---|--:|--:|--:|--:|--:|--:|---|',
    );
    for (const c of h.configs) {
      const t = httpTargets(results, c.key);
      const cpu = c.cpuUsPerRequest;
      out.push(
        `| ${c.name} | ${opsCell(c.reqPerSec)} | ${msCell(c.p50Ms)} | ${msCell(c.p99Ms)} | ` +
          `${mem ? ratio(c.reqPerSec.median / mem.reqPerSec.median) : '–'} | ${mem ? ratio(c.p99Ms.median / mem.p99Ms.median) : '–'} | ` +
          `${cpu ? `${Math.round(cpu.server)} · ${Math.round(cpu.postgres)} · ${Math.round(cpu.loadGenerator)}` : '–'} | ` +
          `${c.whatIf ? 'what-if, not a target' : t.map((x) => `${mark(x.pass)} ${x.what.split(':')[0]} ${ratio(x.measured)} ${x.op === '>=' ? '≥' : '≤'} ${x.limit}`).join('<br>')} |`,
      );
    }
    for (const c of h.configs) {
      const l = c.cacheLookups;
      if (!l) continue;
      out.push(
        '',
        `Session cache of "${c.name}" over the timed runs: ${(l.hitRate * 100).toFixed(2)}% hits ` +
          `(${count(l.hit)} hits, ${count(l.miss)} misses, ${count(l.bypass)} bypasses; bodhi_session_cache_lookups_total).`,
      );
    }
    out.push('');
  }

  if (results.observability) out.push(...observabilityTable(results, results.observability));
  if (results.redaction) out.push(...redactionTable(results.redaction));

  const scales = (['postgres', 'sqlite'] as const)
    .map((kind) => results.scale[kind])
    .filter((s) => !!s);
  if (scales.length) {
    out.push(
      '## Scale',
      '',
      'get: one call at a time, random ids over the whole table (the target), p50/p99 per repetition, median (min–max) of the repetitions; ' +
        'the diagnostic row reads the big table through a working set as small as the small table, to separate table size from cache misses. ' +
        'The three are measured in turns (a repetition of each per round) once both tables exist, so they share machine conditions. ' +
        'Tables bulk-loaded outside the store. Pruning: every bulk row expired for the pruner (its store clock runs a day ahead), ' +
        "while an open-loop get load on 1,000 other sessions runs in the same process (latency counted from each request's scheduled time).",
      '',
      '| backend | rows | bulk load | get p50 ms | get p99 ms | p99 vs small table | target |',
      '|---|--:|--:|--:|--:|--:|---|',
    );
    for (const s of scales) {
      const t = scaleTarget(results, s, 'get p99');
      out.push(
        `| ${BACKEND[s.backend]} | ${count(s.smallRows)} | – | ${msCell(s.getSmall.p50Ms)} | ${msCell(s.getSmall.p99Ms)} | | |`,
        `| ${BACKEND[s.backend]} | ${count(s.rows)} | ${s.prefill.seconds.toFixed(1)} s${s.prefill.settleSeconds ? ` (+${s.prefill.settleSeconds.toFixed(0)} s settling)` : ''} | ${msCell(s.getLarge.p50Ms)} | ${msCell(s.getLarge.p99Ms)} | ` +
          `${t ? `${ratio(t.measured)} | ${mark(t.pass)} ≤ 1.2×` : ' | '} |`,
        `| ${BACKEND[s.backend]} | ${count(s.rows)}, gets over ${count(s.smallRows)} of them (diagnostic) | – | ${msCell(s.getLargeHotSet.p50Ms)} | ${msCell(s.getLargeHotSet.p99Ms)} | ` +
          `${ratio(s.getLargeHotSet.p99Ms.median / s.getSmall.p99Ms.median)} | no target |`,
      );
    }
    out.push(
      '',
      `| backend | listUserSessions (${scales[0].sessionsPerUser} sessions) p50 / p99 ms | countSessionsForUser (${scales[0].sessionsPerUser} sessions) p50 / max ms | clearSessionsForUser (${scales[0].sessionsPerUser} sessions) p50 / max ms |`,
      '|---|--:|--:|--:|',
      ...scales.map(
        (s) =>
          `| ${BACKEND[s.backend]}, ${count(s.rows)} rows | ${ms(s.listForUser.p50Ms)} / ${ms(s.listForUser.p99Ms)} (${count(s.listForUser.calls)} calls) | ` +
          `${ms(s.countForUser.p50Ms)} / ${ms(s.countForUser.maxMs)} | ${ms(s.clearForUser.p50Ms)} / ${ms(s.clearForUser.maxMs)} |`,
      ),
      '',
      '| backend | pruning | rows removed | duration | rows/s | load p99 before | load p50 / p99 / max during | target |',
      '|---|---|--:|--:|--:|--:|--:|---|',
    );
    for (const s of scales) {
      const t = scaleTarget(results, s, 'concurrent');
      const p = s.prune;
      const d = p.duringPrune;
      out.push(
        `| ${BACKEND[s.backend]} | ${p.method}, batches of ${count(p.batchSize)} | ${count(p.rowsRemoved)} | ${p.seconds.toFixed(1)} s | ${count(Math.round(p.rowsPerSec))} | ` +
          `${ms(p.baseline.p99Ms)} ms | ${ms(d.p50Ms)} / ${ms(d.p99Ms)} / ${ms(d.maxMs)} ms (${count(d.requests)} gets at ${d.rate}/s) | ` +
          `${t ? `${mark(t.pass)} p99 ≤ 50 ms` : ''} |`,
      );
    }
    out.push('');
  }

  if (results.drivers) {
    const d = results.drivers;
    out.push(
      '## SQLite drivers (why better-sqlite3)',
      '',
      `${count(d.ops)} sequential ops on the session table, file DB in WAL mode, synchronous=NORMAL, median of ${d.reps} (min–max), ` +
        `session ${count(results.store.sqlite?.sessionBytes ?? 0) || '~1.7 k'} bytes. sqlite3 ${m.packages.sqlite3} driven directly (TypeORM 1.x has no sqlite3 driver).`,
      '',
      '| op | better-sqlite3 ops/s | sqlite3 ops/s | ratio |',
      '|---|--:|--:|--:|',
      ...d.rows.map(
        (r) =>
          `| ${r.op} | ${opsCell(r.betterSqlite3)} | ${opsCell(r.sqlite3)} | ${r.ratio.toFixed(1)}× |`,
      ),
      '',
    );
  }

  const contenders = new Map<string, string>();
  for (const r of Object.values(results.store)) {
    if (!r) continue;
    for (const c of r.contenders) contenders.set(`${c.name} (${BACKEND[r.backend]})`, c.notes);
  }
  if (contenders.size) {
    out.push('## Contenders', '');
    for (const [name, notes] of contenders) out.push(`- **${name}**: ${notes}`);
    out.push('');
  }
  out.push(
    '## Notes',
    '',
    '- PostgreSQL is the test cluster of `scripts/test-deps.mjs` (fsync, synchronous_commit and full_page_writes off), on the same 2 cores as ' +
      'Node: PostgreSQL CPU competes with the client, so PostgreSQL numbers are lower than on a separate database host, and noisier (±15% between runs).',
    "- connect-typeorm's `destroy` is a soft delete (an UPDATE of `destroyedAt`; rows are never removed with `cleanupLimit: 0`), " +
      'and better-sqlite3-session-store keeps no index besides its primary key (its expiry sweep scans the whole table): ' +
      'their writes maintain fewer B-trees than ours, which indexes `expires_at` (pruning) and `user_id` (per-user logout).',
    '- Store-level background pruning is off for every contender; in the HTTP run each server prunes on its default timer.',
    '- Scale: the pruner sees every bulk row as expired through a store whose clock runs a day ahead (`SessionStoreBackend` `now` option); ' +
      'PostgreSQL reads are measured after the bulk load has been written back (settling), SQLite files are fsynced after loading.',
    '',
    `Packages: ${Object.entries(m.packages)
      .map(([name, v]) => `${name} ${v}`)
      .join(', ')}.`,
    '',
  );
  return out.join('\n');
}
