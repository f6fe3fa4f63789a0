/**
 * Observability's price (issue #16): the same app, same backend, in one run, with metrics and
 * JSON request logs on (BODHI_METRICS=on, BODHI_LOG_FORMAT=json, BODHI_LOG_LEVEL=info, one
 * line per request, /metrics scraped while the load runs) against off (BODHI_METRICS=off,
 * BODHI_LOG_LEVEL=warn). Two loads: plain GET /bodhi/v1/user (hour-long access tokens), and
 * the same with 1 s tokens, so each session refreshes about once a second through the
 * provider — the refresh path runs under the session lock, which on PostgreSQL pins its
 * connection through AsyncLocalStorage, and nestjs-pino keeps an AsyncLocalStorage context per
 * request. Every server writes its stdout (the logger's fd 1) to a file in its temp home.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SessionDbKind } from '@bodhi/services';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  IdentityProviderProcess,
  providerStats,
  ServerProcess,
  tempHome,
  TempHome,
} from '@bodhi/testing';
import type { BenchConfig } from './config.js';
import { openWorkspace, Workspace } from './contenders.js';
import { benchServerProcess, builtScripts, cannon, login, processCpuMs } from './http-bench.js';
import { onInterrupt, progress, spread, Spread } from './util.js';

export type ObservabilityLoad = 'plain' | 'refresh';
export type ObservabilityMode = 'off' | 'on';

/** One server's runs. */
export interface ObservabilityMeasured {
  reqPerSec: Spread;
  p50Ms: Spread;
  p99Ms: Spread;
  requests: number;
  /** Server CPU µs per request (Linux /proc), median over runs; NaN elsewhere. */
  serverCpuUsPerRequest: number;
  /** Refresh grants the provider served per second of load (all runs). */
  refreshesPerSec: number;
  /** Request lines in its log file per request (1 when request logging is on). */
  requestLinesPerRequest: number;
  /** Bytes its log file grew per request. */
  logBytesPerRequest: number;
  /** /metrics scrapes answered 200 during the timed runs. */
  scrapes: number;
}

export interface ObservabilityRow {
  backend: SessionDbKind;
  load: ObservabilityLoad;
  off: ObservabilityMeasured;
  on: ObservabilityMeasured;
}

export interface ObservabilityResult {
  endpoint: string;
  connections: number;
  seconds: number;
  warmupSeconds: number;
  reps: number;
  scrapeIntervalMs: number;
  refreshTokenTtlSeconds: number;
  rows: ObservabilityRow[];
}

/** What each mode sets beyond the bench server's defaults. */
const MODE_ENV: Record<ObservabilityMode, Record<string, string>> = {
  off: { BODHI_METRICS: 'off', BODHI_LOG_FORMAT: 'json', BODHI_LOG_LEVEL: 'warn' },
  on: { BODHI_METRICS: 'on', BODHI_LOG_FORMAT: 'json', BODHI_LOG_LEVEL: 'info' },
};

interface ObservedServer {
  backend: SessionDbKind;
  load: ObservabilityLoad;
  mode: ObservabilityMode;
  name: string;
  proc: ServerProcess;
  idp: IdentityProviderProcess;
  logFile: string;
  cookies: string[];
}

interface Sample {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  seconds: number;
  serverCpuUsPerRequest: number;
  refreshes: number;
  requestLines: number;
  logBytes: number;
  scrapes: number;
}

/**
 * Scrapes `url` every `intervalMs` until `work` settles, as Prometheus would (one scrape at a
 * time); resolves with `work`'s value and the number of scrapes. A scrape that does not
 * answer 200 fails the run: the mode would not be measuring what it says.
 */
async function scrapingWhile<T>(
  url: string,
  intervalMs: number,
  work: Promise<T>,
): Promise<{ value: T; scrapes: number }> {
  let scrapes = 0;
  let failure: Error | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  const scrape = async () => {
    const res = await fetch(url);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
    scrapes++;
  };
  const timer = setInterval(() => {
    inFlight = inFlight.then(scrape).catch((e: Error) => {
      failure ??= e;
    });
  }, intervalMs);
  try {
    const value = await work;
    await inFlight;
    if (failure) throw failure;
    return { value, scrapes };
  } finally {
    clearInterval(timer);
  }
}

/** The request lines (pino-http's, with `res.statusCode`) of a JSON log; throws on non-JSON. */
function requestLines(text: string, name: string): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    let entry: { res?: { statusCode?: number } };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      throw new Error(`${name}: a log line is not JSON: ${line.slice(0, 200)}`);
    }
    if (entry.res?.statusCode !== undefined) n++;
  }
  return n;
}

/**
 * The refresh grants `idp` has served. Its stats API takes a client-credentials token that
 * lives as long as the access tokens (1 s in the refresh load): on a busy machine it can expire
 * before the stats request, so a 401 gets a fresh token, a few times.
 */
async function refreshGrants(idp: IdentityProviderProcess): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await providerStats(idp.client)).grants.refresh_token ?? 0;
    } catch (e) {
      if (attempt >= 5 || !String(e).includes('401')) throw e;
    }
  }
}

export async function runObservabilityBench(config: BenchConfig): Promise<ObservabilityResult> {
  const o = config.observability;
  builtScripts();
  const backends: SessionDbKind[] = ['sqlite', 'postgres'];
  const loads: ObservabilityLoad[] = ['plain', 'refresh'];
  const modes: ObservabilityMode[] = ['off', 'on'];
  const plan = backends.flatMap((backend) =>
    loads.flatMap((load) => modes.map((mode) => ({ backend, load, mode }))),
  );
  const ttl: Record<ObservabilityLoad, number> = {
    plain: 3600,
    refresh: o.refreshTokenTtlSeconds,
  };
  const idps = {} as Record<ObservabilityLoad, IdentityProviderProcess>;
  for (const load of loads)
    idps[load] = new IdentityProviderProcess({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      accessTokenTtlSeconds: ttl[load],
    });
  const workspaces: Partial<Record<SessionDbKind, Workspace>> = {};
  const homes: TempHome[] = [];
  const servers: ObservedServer[] = [];
  const stopAll = () =>
    Promise.all([
      ...servers.map((s) => s.proc.stop()),
      ...Object.values(idps).map((idp) => idp.stop()),
    ]);
  const unregister = onInterrupt(stopAll);
  try {
    for (const backend of backends)
      workspaces[backend] = await openWorkspace(backend, config.pgUrl);
    await Promise.all(Object.values(idps).map((idp) => idp.up()));
    for (const p of plan) {
      const home = tempHome('bodhi-bench-obs-');
      homes.push(home);
      const name = `${p.backend === 'sqlite' ? 'SQLite' : 'PostgreSQL'}, ${p.load}, ${p.mode}`;
      const logFile = path.join(home.dir, 'stdout.log');
      const proc = benchServerProcess({
        ws: workspaces[p.backend] as Workspace,
        name: `obs_${p.load}_${p.mode}`,
        idp: idps[p.load],
        home: home.dir,
        label: name,
        env: { ...MODE_ENV[p.mode], BENCH_STDOUT_FILE: logFile },
      });
      servers.push({ ...p, name, proc, idp: idps[p.load], logFile, cookies: [] });
    }
    await Promise.all(servers.map((s) => s.proc.up()));
    for (const s of servers) {
      for (let i = 0; i < o.connections; i++) s.cookies.push(await login(s.proc.url));
      progress(`observability: ${s.name} up, ${o.connections} users logged in`);
    }

    const run = async (s: ObservedServer, duration: number): Promise<Sample> => {
      fs.truncateSync(s.logFile, 0);
      const refreshesBefore = await refreshGrants(s.idp);
      const cpuBefore = processCpuMs(s.proc.pid ?? 0);
      let next = 0;
      const load = cannon({
        url: `${s.proc.url}/bodhi/v1/user`,
        connections: o.connections,
        duration,
        // One logged-in session per connection.
        setupClient: (client) =>
          client.setHeaders({ cookie: s.cookies[next++ % s.cookies.length] }),
      });
      const { value: result, scrapes } =
        s.mode === 'on'
          ? await scrapingWhile(`${s.proc.url}/metrics`, o.scrapeIntervalMs, load)
          : { value: await load, scrapes: 0 };
      const cpuMs = processCpuMs(s.proc.pid ?? 0) - cpuBefore;
      if (result.errors || result.non2xx || result.timeouts)
        throw new Error(
          `${s.name}: ${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts\n${s.proc.output()}`,
        );
      const log = fs.readFileSync(s.logFile, 'utf8');
      const requests = result.requests.total;
      return {
        reqPerSec: requests / result.duration,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        requests,
        seconds: result.duration,
        serverCpuUsPerRequest: (cpuMs * 1000) / requests,
        refreshes: (await refreshGrants(s.idp)) - refreshesBefore,
        requestLines: requestLines(log, s.name),
        logBytes: Buffer.byteLength(log),
        scrapes,
      };
    };

    const find = (backend: SessionDbKind, load: ObservabilityLoad, mode: ObservabilityMode) => {
      const found = servers.find(
        (s) => s.backend === backend && s.load === load && s.mode === mode,
      );
      if (!found) throw new Error(`no server for ${backend}, ${load}, ${mode}`);
      return found;
    };
    for (const s of servers) {
      progress(`observability: warm-up ${s.name} (${o.warmupSeconds} s, excluded)`);
      await run(s, o.warmupSeconds);
    }
    const samples = new Map<ObservedServer, Sample[]>();
    for (let rep = 0; rep < o.reps; rep++) {
      // Each off/on pair back to back, their order alternating per repetition: drift on a
      // shared machine hits both sides of a ratio alike.
      for (const backend of backends)
        for (const load of loads) {
          const pair = modes.map((mode) => find(backend, load, mode));
          for (const s of rep % 2 ? pair.reverse() : pair) {
            const sample = await run(s, o.seconds);
            samples.set(s, [...(samples.get(s) ?? []), sample]);
            progress(
              `observability: rep ${rep + 1}/${o.reps} ${s.name}: ${Math.round(sample.reqPerSec)} req/s, ` +
                `p50 ${sample.p50Ms} ms, p99 ${sample.p99Ms} ms, ${Math.round(sample.serverCpuUsPerRequest)} µs CPU/request, ` +
                `${sample.refreshes} refreshes, ${sample.requestLines} request lines, ${sample.scrapes} scrapes`,
            );
          }
        }
    }
    // Still logged in after the load: every refresh kept its session.
    for (const s of servers) {
      const res = await fetch(`${s.proc.url}/bodhi/v1/user`, {
        headers: { cookie: s.cookies[0] },
      });
      const body = (await res.json()) as { auth_status?: string };
      if (body.auth_status !== 'logged_in')
        throw new Error(`${s.name}: session no longer logged in after the run`);
    }
    const measured = (s: ObservedServer): ObservabilityMeasured => {
      const runs = samples.get(s) ?? [];
      const sum = (key: keyof Sample) => runs.reduce((n, r) => n + r[key], 0);
      return {
        reqPerSec: spread(runs.map((r) => r.reqPerSec)),
        p50Ms: spread(runs.map((r) => r.p50Ms)),
        p99Ms: spread(runs.map((r) => r.p99Ms)),
        requests: sum('requests'),
        serverCpuUsPerRequest: spread(runs.map((r) => r.serverCpuUsPerRequest)).median,
        refreshesPerSec: sum('refreshes') / sum('seconds'),
        requestLinesPerRequest: sum('requestLines') / sum('requests'),
        logBytesPerRequest: sum('logBytes') / sum('requests'),
        scrapes: sum('scrapes'),
      };
    };
    return {
      endpoint: 'GET /bodhi/v1/user',
      connections: o.connections,
      seconds: o.seconds,
      warmupSeconds: o.warmupSeconds,
      reps: o.reps,
      scrapeIntervalMs: o.scrapeIntervalMs,
      refreshTokenTtlSeconds: o.refreshTokenTtlSeconds,
      rows: backends.flatMap((backend) =>
        loads.map((load) => ({
          backend,
          load,
          off: measured(find(backend, load, 'off')),
          on: measured(find(backend, load, 'on')),
        })),
      ),
    };
  } finally {
    unregister();
    await stopAll();
    for (const home of homes) home.remove();
    for (const ws of Object.values(workspaces)) await ws?.close();
  }
}
