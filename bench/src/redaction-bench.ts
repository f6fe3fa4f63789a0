/**
 * What hostile URLs cost everyone else (issue #28, part 3): an anonymous client sends
 * `attackers` requests at once for a long path shaped against the log's redaction (a plain
 * 404, logged at warn with its path; and two controls, see PATHS), while a prober asks `GET /bodhi/v1/ping` back to back on
 * a connection of its own. The ping's latency during the attack, against the same prober on
 * the idle server, is the delay those requests impose on every other client: the log line is
 * written on the request thread, so time its redaction takes is time no request is served.
 * Two servers, as the issue measured them: SQLite with pretty logs, PostgreSQL with JSON logs,
 * both at BODHI_LOG_LEVEL=warn, stdout to a file in their temp home.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { SessionDbKind } from '@bodhi/services';
import { serverEnv, ServerProcess, tempHome, TempHome, UNREACHABLE_PROVIDER } from '@bodhi/testing';
import type { BenchConfig } from './config.js';
import { oursOptions, openWorkspace, Workspace } from './contenders.js';
import { BENCH_SECRET } from './fixtures.js';
import { builtScripts } from './http-bench.js';
import { onInterrupt, progress, round, sleep } from './util.js';

/**
 * The paths sent: the two (about 15.6 KB each, under Node's 16 KB header limit), and
 * two controls, each a plain 404 too: as long but with nothing for the redaction to look at
 * (what a 15.6 KB request costs without it), and a short path (what 30 requests cost).
 */
export const PATHS = {
  'eyJ×5200 + @://': `/${'eyJ'.repeat(5200)}@://`,
  'a×15600 + @://': `/${'a'.repeat(15600)}@://`,
  'b×15604 (control: nothing to redact)': `/${'b'.repeat(15604)}`,
  '/nope (control: short)': '/nope',
} as const;
export type BenchPath = keyof typeof PATHS;
const CONTROLS = [PATHS['b×15604 (control: nothing to redact)'], PATHS['/nope (control: short)']];

export interface LatencySummary {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface RedactionRow {
  backend: SessionDbKind;
  logFormat: 'pretty' | 'json';
  path: BenchPath;
  /** The prober alone, just before the attacks. */
  idle: LatencySummary;
  /** The prober while the attacks were in flight (every round). */
  underAttack: LatencySummary;
  /** Worst ping of each round. */
  roundMaxMs: number[];
  /** From the first hostile request sent to the last answer, per round. */
  attackMs: number[];
  /** Status codes the hostile requests got (all 404 expected). */
  statuses: Record<string, number>;
  /** Bytes the log grew per hostile request. */
  logBytesPerRequest: number;
}

export interface RedactionResult {
  attackers: number;
  rounds: number;
  idleSeconds: number;
  rows: RedactionRow[];
}

function summary(latencies: number[]): LatencySummary {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return {
    samples: sorted.length,
    p50Ms: round(at(0.5), 2),
    p99Ms: round(at(0.99), 2),
    maxMs: round(sorted[sorted.length - 1], 2),
  };
}

/** One GET of `path` on `agent`; resolves with the status once the body is read. */
function get(base: URL, path: string, agent: http.Agent | false): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: base.hostname, port: base.port, path, method: 'GET', agent },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/**
 * Pings `base` back to back on one keep-alive connection until `stop()` resolves, then waits
 * for the ping in flight; returns each ping's latency.
 */
async function probeWhile(base: URL, stop: Promise<unknown>): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  let done = false;
  void stop.finally(() => (done = true));
  try {
    do {
      const t = performance.now();
      const status = await get(base, '/bodhi/v1/ping', agent);
      if (status !== 200) throw new Error(`GET /bodhi/v1/ping answered ${status}`);
      latencies.push(performance.now() - t);
    } while (!done);
  } finally {
    agent.destroy();
  }
  return latencies;
}

interface Target {
  backend: SessionDbKind;
  logFormat: 'pretty' | 'json';
  proc: ServerProcess;
  logFile: string;
}

export async function runRedactionBench(config: BenchConfig): Promise<RedactionResult> {
  const r = config.redaction;
  builtScripts();
  const plan = [
    { backend: 'sqlite', logFormat: 'pretty' },
    { backend: 'postgres', logFormat: 'json' },
  ] as const;
  const workspaces: Partial<Record<SessionDbKind, Workspace>> = {};
  const homes: TempHome[] = [];
  const targets: Target[] = [];
  const stopAll = () => Promise.all(targets.map((t) => t.proc.stop()));
  const unregister = onInterrupt(stopAll);
  try {
    for (const { backend, logFormat } of plan) {
      const ws = (workspaces[backend] = await openWorkspace(backend, config.pgUrl));
      const home = tempHome('bodhi-bench-redaction-');
      homes.push(home);
      const logFile = path.join(home.dir, 'stdout.log');
      const options = oursOptions(ws, 'redaction');
      const proc = new ServerProcess(
        serverEnv({
          home: home.dir,
          port: 0,
          // No login here: the provider is never asked.
          provider: UNREACHABLE_PROVIDER,
          db: {
            url:
              backend === 'postgres' ? ws.pgUrl : `sqlite:${path.join(ws.dir, 'redaction.sqlite')}`,
            table: options.tableName,
            schema: options.schema,
          },
          secret: BENCH_SECRET,
          logLevel: 'warn',
          env: {
            NODE_ENV: 'production',
            BODHI_LOG_FORMAT: logFormat,
            BENCH_STDOUT_FILE: logFile,
          },
        }),
        { name: `bench-server (redaction, ${backend})`, script: builtScripts().serverScript },
      );
      targets.push({ backend, logFormat, proc, logFile });
    }
    await Promise.all(targets.map((t) => t.proc.up()));

    const rows: RedactionRow[] = [];
    for (const t of targets) {
      const base = new URL(t.proc.url);
      // Warm-up, untimed: the 404 path compiled before the first row (with the controls only,
      // which cost the same before and after #28), so that row is not also a cold start.
      for (const control of CONTROLS)
        for (let round = 0; round < r.rounds; round++)
          await Promise.all(Array.from({ length: r.attackers }, () => get(base, control, false)));
      for (const name of Object.keys(PATHS) as BenchPath[]) {
        const hostile = PATHS[name];
        const idle = await probeWhile(base, sleep(r.idleSeconds * 1000));
        const underAttack: number[] = [];
        const roundMaxMs: number[] = [];
        const attackMs: number[] = [];
        const statuses: Record<string, number> = {};
        const logBefore = fs.statSync(t.logFile).size;
        for (let round = 0; round < r.rounds; round++) {
          const t0 = performance.now();
          // Each hostile request on a connection of its own, all sent at once.
          const attack = Promise.all(
            Array.from({ length: r.attackers }, () => get(base, hostile, false)),
          ).then((codes) => {
            attackMs.push(performance.now() - t0);
            for (const code of codes) statuses[code] = (statuses[code] ?? 0) + 1;
          });
          const pings = await probeWhile(base, attack);
          await attack;
          underAttack.push(...pings);
          roundMaxMs.push(round2(Math.max(...pings)));
        }
        const logBytes = fs.statSync(t.logFile).size - logBefore;
        const row: RedactionRow = {
          backend: t.backend,
          logFormat: t.logFormat,
          path: name,
          idle: summary(idle),
          underAttack: summary(underAttack),
          roundMaxMs,
          attackMs: attackMs.map(round2),
          statuses,
          logBytesPerRequest: Math.round(logBytes / (r.attackers * r.rounds)),
        };
        rows.push(row);
        progress(
          `redaction: ${t.backend} (${t.logFormat} logs), ${name}: ping p50/p99/max ` +
            `${row.underAttack.p50Ms}/${row.underAttack.p99Ms}/${row.underAttack.maxMs} ms under attack ` +
            `(idle ${row.idle.p50Ms}/${row.idle.p99Ms}/${row.idle.maxMs} ms), attacks took ${row.attackMs.join(', ')} ms, ` +
            `statuses ${JSON.stringify(statuses)}, ${row.logBytesPerRequest} log bytes/request`,
        );
      }
    }
    return { attackers: r.attackers, rounds: r.rounds, idleSeconds: r.idleSeconds, rows };
  } finally {
    unregister();
    await stopAll();
    for (const home of homes) home.remove();
    for (const ws of Object.values(workspaces)) await ws?.close();
  }
}

const round2 = (x: number) => round(x, 2);
