import { TEST_PG_URL } from '@bodhi/testing';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/ (this file runs from bench/dist or, under Jest, bench/src). */
export const BENCH_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const WORKSPACE_ROOT = path.resolve(BENCH_ROOT, '..');

/** The store-level operations, in the order each repetition runs them. */
export const STORE_OPS = [
  'set (new)',
  'set (update)',
  'get (hit)',
  'get (miss)',
  'touch',
  'destroy',
] as const;
export type StoreOp = (typeof STORE_OPS)[number];

export const SECTIONS = [
  'drivers',
  'store',
  'http',
  'observability',
  'redaction',
  'scale',
] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchConfig {
  mode: 'full' | 'quick';
  outDir: string;
  sections: Section[];
  pgUrl: string;
  /** Store level: N operations per op, per repetition. */
  store: {
    ops: { sqlite: number; postgres: number };
    warmupOps: number;
    reps: number;
    concurrency: number[];
  };
  http: { connections: number; warmupSeconds: number; seconds: number; reps: number };
  /** HTTP with metrics, scrapes and JSON request logs on against off (issue #16). */
  observability: {
    connections: number;
    warmupSeconds: number;
    seconds: number;
    reps: number;
    /** How often /metrics is scraped while the load runs (Prometheus's job, faster). */
    scrapeIntervalMs: number;
    /** The refresh load's access-token lifetime: each session refreshes about this often. */
    refreshTokenTtlSeconds: number;
  };
  /** Hostile URLs against the log's redaction, and a ping's delay meanwhile (issue #28). */
  redaction: {
    /** Hostile requests sent at once, each round. */
    attackers: number;
    rounds: number;
    /** Seconds of pings on the idle server first (the baseline). */
    idleSeconds: number;
  };
  scale: {
    /** The big table. */
    rows: number;
    /** The small table it is compared with. */
    smallRows: number;
    /** Sessions of each user in the big table. */
    sessionsPerUser: number;
    /** Timed gets per repetition (random ids, one at a time). */
    getSamples: { sqlite: number; postgres: number };
    reps: number;
    /** clearSessionsForUser / countSessionsForUser calls (different users). */
    userOps: number;
    /** Timed listUserSessions calls (random users). */
    listOps: number;
    /** The steady get load during pruning: requests per second, open loop. */
    loadRate: number;
    /** Seconds of load alone before pruning starts (the baseline). */
    baselineSeconds: number;
    /** PostgreSQL: most seconds of untimed reads after a bulk load, until write-back settles. */
    settleSeconds: number;
  };
  drivers: { ops: number; reps: number };
}

const FULL: Omit<BenchConfig, 'outDir' | 'sections' | 'pgUrl'> = {
  mode: 'full',
  store: { ops: { sqlite: 5000, postgres: 2000 }, warmupOps: 500, reps: 7, concurrency: [1, 32] },
  http: { connections: 32, warmupSeconds: 3, seconds: 8, reps: 3 },
  observability: {
    connections: 32,
    warmupSeconds: 3,
    seconds: 8,
    reps: 3,
    scrapeIntervalMs: 1000,
    refreshTokenTtlSeconds: 1,
  },
  redaction: { attackers: 30, rounds: 5, idleSeconds: 2 },
  scale: {
    rows: 1_000_000,
    smallRows: 1000,
    sessionsPerUser: 100,
    getSamples: { sqlite: 20_000, postgres: 5000 },
    reps: 5,
    userOps: 20,
    listOps: 2000,
    loadRate: 500,
    baselineSeconds: 3,
    settleSeconds: 30,
  },
  drivers: { ops: 5000, reps: 5 },
};

const QUICK: typeof FULL = {
  mode: 'quick',
  store: { ops: { sqlite: 200, postgres: 100 }, warmupOps: 20, reps: 1, concurrency: [1, 32] },
  http: { connections: 8, warmupSeconds: 0.5, seconds: 1, reps: 1 },
  observability: {
    connections: 8,
    warmupSeconds: 0.5,
    seconds: 1.5,
    reps: 1,
    scrapeIntervalMs: 500,
    refreshTokenTtlSeconds: 1,
  },
  redaction: { attackers: 30, rounds: 1, idleSeconds: 0.3 },
  scale: {
    rows: 5000,
    smallRows: 1000,
    sessionsPerUser: 100,
    getSamples: { sqlite: 300, postgres: 200 },
    reps: 1,
    userOps: 3,
    listOps: 50,
    loadRate: 200,
    baselineSeconds: 0.3,
    settleSeconds: 2,
  },
  drivers: { ops: 300, reps: 1 },
};

export const USAGE = `Usage: npm run bench -- [--quick] [--out <dir>] [--only <sections>]

  --quick           small N, one repetition: checks the harness in well under a minute
  --out <dir>       where latest.md and latest.json go (default bench/results)
  --only <list>     comma-separated subset of: ${SECTIONS.join(', ')}

PostgreSQL: BODHI_TEST_PG_URL (default postgres://bodhi_test:bodhi_test@localhost:54320/bodhi_sessions);
start it with \`npm run test:deps:up\`.`;

/** Parses argv (accepts `--out dir` and `--out=dir`). */
export function parseArgs(argv: string[]): BenchConfig {
  let quick = false;
  let outDir = path.join(BENCH_ROOT, 'results');
  let sections: Section[] = [...SECTIONS];
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n\n${USAGE}`);
      return v;
    };
    if (flag === '--quick') quick = inline === undefined || inline !== 'false';
    else if (flag === '--out') outDir = path.resolve(value());
    else if (flag === '--only') {
      const wanted = value()
        .split(',')
        .map((s) => s.trim());
      const unknown = wanted.filter((s) => !(SECTIONS as readonly string[]).includes(s));
      if (unknown.length) throw new Error(`unknown section(s) ${unknown.join(', ')}\n\n${USAGE}`);
      sections = SECTIONS.filter((s) => wanted.includes(s));
    } else if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown option ${argv[i]}\n\n${USAGE}`);
  }
  return {
    ...(quick ? QUICK : FULL),
    outDir,
    sections,
    pgUrl: TEST_PG_URL,
  };
}
