/**
 * Keeps the harness from rotting: `--quick` (small N, one repetition) runs every section
 * against the real databases and processes, into a temp dir, and every contender must post
 * numbers. No speed is asserted here — that is what the full run's target column is for.
 */
import { tempHome, type TempHome } from '@bodhi/testing';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { BENCH_ROOT, STORE_OPS, WORKSPACE_ROOT } from './config.js';
import { PATHS } from './redaction-bench.js';
import type { BenchResults } from './report.js';

function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('missing from the results');
  return value;
}

const positive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;
const nonNegative = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
const spreadOk = (s: { median: number; min: number; max: number; reps: number[] }) =>
  positive(s.median) &&
  positive(s.min) &&
  positive(s.max) &&
  s.reps.length > 0 &&
  s.reps.every(positive);

describe('npm run bench -- --quick', () => {
  let out: TempHome;
  let results: BenchResults;
  let markdown: string;

  afterAll(() => out?.remove());

  it('runs every section, and every contender posts numbers', async () => {
    out = tempHome('bodhi-bench-quick-');
    // The built harness (the test target depends on bench:build), as `npm run bench` runs it.
    await promisify(execFile)(
      process.execPath,
      ['--expose-gc', path.join(BENCH_ROOT, 'dist/main.js'), '--quick', '--out', out.dir],
      { cwd: WORKSPACE_ROOT, maxBuffer: 64 * 1024 * 1024, timeout: 540_000 },
    );
    results = JSON.parse(
      fs.readFileSync(path.join(out.dir, 'latest.json'), 'utf8'),
    ) as BenchResults;
    markdown = fs.readFileSync(path.join(out.dir, 'latest.md'), 'utf8');
    reportAndMachine();
    storeContenders();
    httpServers();
    observability();
    redaction();
    scale();
    drivers();
    targets();
  });

  /** The report and the JSON beside it, describing the machine. */
  function reportAndMachine() {
    expect(results.schemaVersion).toBe(1);
    expect(results.mode).toBe('quick');
    expect(results.machine.cpus).toBeGreaterThan(0);
    expect(results.machine.postgres).toMatch(/^\d+/);
    expect(results.machine.sqlite).toMatch(/^3\./);
    for (const heading of [
      '## Store level — PostgreSQL',
      '## Store level — SQLite',
      '## HTTP level',
      '## Observability: metrics and JSON logs on against off',
      '## Hostile URLs and the log (issue #28)',
      '## Scale',
      '## SQLite drivers (why better-sqlite3)',
    ])
      expect(markdown).toContain(heading);
  }

  /** Numbers for every store contender, op and concurrency on both backends. */
  function storeContenders() {
    const expected = {
      postgres: [
        'ours',
        'ours-unnamed',
        'raw',
        'raw-no-notify',
        'connect-pg-simple',
        'connect-typeorm',
      ],
      sqlite: ['ours', 'raw', 'better-sqlite3-session-store', 'connect-typeorm'],
    };
    for (const kind of ['postgres', 'sqlite'] as const) {
      const r = must(results.store[kind]);
      expect(r.contenders.map((c) => c.key).sort()).toEqual([...expected[kind]].sort());
      for (const contender of expected[kind])
        for (const c of results.config.store.concurrency)
          for (const op of STORE_OPS) {
            const m = r.measurements.find(
              (x) => x.contender === contender && x.op === op && x.concurrency === c,
            );
            expect({ kind, contender, op, c, ok: !!m && spreadOk(m.opsPerSec) }).toEqual({
              kind,
              contender,
              op,
              c,
              ok: true,
            });
            expect(!!m && nonNegative(m.p50Ms) && nonNegative(m.p99Ms)).toBe(true);
          }
    }
  }

  /**
   * req/s, latency and CPU for each HTTP server; the cached one counted its lookups, and the
   * others have no cache to count.
   */
  function httpServers() {
    const http = must(results.http);
    expect(http.configs.map((c) => c.key).sort()).toEqual([
      'memory',
      'postgres',
      'postgres-cache',
      'postgres-cache-metrics',
      'postgres-touch-always',
      'sqlite',
    ]);
    for (const c of http.configs) {
      expect(spreadOk(c.reqPerSec)).toBe(true);
      expect(spreadOk(c.p99Ms) && nonNegative(c.p50Ms.median)).toBe(true);
      expect(c.cacheLookups !== undefined).toBe(c.key === 'postgres-cache-metrics');
    }
    const lookups = must(
      http.configs.find((c) => c.key === 'postgres-cache-metrics')?.cacheLookups,
    );
    expect(lookups.hit).toBeGreaterThan(0);
    expect(lookups.hitRate).toBeGreaterThan(0);
  }

  /**
   * Metrics and logs on against off, per backend and load: numbers on both sides, and each
   * side measured what it says — on writes one JSON request line per request and was scraped,
   * off writes none; the refresh load refreshed and the plain one did not.
   */
  function observability() {
    const o = must(results.observability);
    expect(o.rows.map((r) => `${r.backend} ${r.load}`).sort()).toEqual([
      'postgres plain',
      'postgres refresh',
      'sqlite plain',
      'sqlite refresh',
    ]);
    for (const row of o.rows) {
      for (const m of [row.on, row.off])
        expect(spreadOk(m.reqPerSec) && spreadOk(m.p99Ms) && nonNegative(m.p50Ms.median)).toBe(
          true,
        );
      expect(row.on.requestLinesPerRequest).toBeGreaterThanOrEqual(0.99);
      expect(row.on.scrapes).toBeGreaterThan(0);
      expect({ lines: row.off.requestLinesPerRequest, scrapes: row.off.scrapes }).toEqual({
        lines: 0,
        scrapes: 0,
      });
      for (const m of [row.on, row.off]) expect(m.refreshesPerSec > 0).toBe(row.load === 'refresh');
    }
  }

  /**
   * The hostile-URL scenario on both servers and paths: every hostile request answered 404,
   * and pings measured idle and under attack.
   */
  function redaction() {
    const r = must(results.redaction);
    expect(r.rows.map((row) => `${row.backend} ${row.path}`)).toEqual(
      ['sqlite', 'postgres'].flatMap((backend) =>
        Object.keys(PATHS).map((path) => `${backend} ${path}`),
      ),
    );
    for (const row of r.rows) {
      expect(row.statuses).toEqual({ 404: r.attackers * r.rounds });
      expect(row.idle.samples > 0 && row.underAttack.samples > 0).toBe(true);
      expect(positive(row.underAttack.maxMs) && positive(row.logBytesPerRequest)).toBe(true);
    }
  }

  /** The scale results on both backends. */
  function scale() {
    for (const kind of ['postgres', 'sqlite'] as const) {
      const s = must(results.scale[kind]);
      expect(
        spreadOk(s.getSmall.p99Ms) &&
          spreadOk(s.getLarge.p99Ms) &&
          spreadOk(s.getLargeHotSet.p99Ms),
      ).toBe(true);
      expect(s.listForUser.sessions).toBe(100);
      expect(positive(s.listForUser.p50Ms) && positive(s.listForUser.p99Ms)).toBe(true);
      expect(s.countForUser.sessions).toBe(100);
      expect(s.clearForUser.removed).toBe(100);
      expect(positive(s.countForUser.p50Ms) && positive(s.clearForUser.p50Ms)).toBe(true);
      expect(s.prune.rowsRemoved).toBeGreaterThan(0);
      expect(positive(s.prune.seconds)).toBe(true);
      expect(s.prune.duringPrune.requests).toBeGreaterThan(0);
      expect(positive(s.prune.duringPrune.p99Ms) && positive(s.prune.baseline.p99Ms)).toBe(true);
    }
  }

  /** The SQLite driver comparison. */
  function drivers() {
    const drivers = must(results.drivers);
    expect(drivers.rows.map((r) => r.op)).toEqual(['set (upsert 1.7 KB)', 'get (hit)']);
    for (const r of drivers.rows)
      expect(spreadOk(r.betterSqlite3) && spreadOk(r.sqlite3)).toBe(true);
  }

  /** Every target with a verdict. */
  function targets() {
    expect(results.targets.length).toBeGreaterThan(40);
    for (const t of results.targets) {
      expect(Number.isFinite(t.measured)).toBe(true);
      expect(typeof t.pass).toBe('boolean');
    }
    expect(markdown).toMatch(/Targets: \d+ of \d+ met/);
  }
});
