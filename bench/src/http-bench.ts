/**
 * HTTP level: autocannon against GET /bodhi/v1/user with logged-in cookies (token
 * verification included), the same app on our SQLite store, our PostgreSQL store without
 * and with its session cache, and express-session's MemoryStore (the upper bound). Each
 * server runs in its own process; the identity provider is apps/dev-auth-server, and every
 * cookie comes from a real login through its form.
 */
import autocannon from 'autocannon';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  BODHI_METRICS,
  BODHI_SESSION_CACHE,
  BODHI_SESSION_TOUCH_AFTER_SECONDS,
  type SessionDbKind,
} from '@bodhi/services';
import {
  BodhiClient,
  CLIENT_ID,
  CLIENT_SECRET,
  DEMO_USER,
  DEV_AUTH_SERVER_SCRIPT,
  IdentityProviderProcess,
  serverEnv,
  scrapeMetrics,
  ServerProcess,
  tempHome,
  TempHome,
} from '@bodhi/testing';
import { BENCH_ROOT, type BenchConfig, WORKSPACE_ROOT } from './config.js';
import { oursOptions, openWorkspace, Workspace } from './contenders.js';
import { BENCH_SECRET } from './fixtures.js';
import { onInterrupt, progress, spread, Spread } from './util.js';

export interface HttpConfigResult {
  key:
    | 'sqlite'
    | 'postgres'
    | 'postgres-cache'
    | 'postgres-cache-metrics'
    | 'memory'
    | 'postgres-touch-always';
  name: string;
  /** A what-if configuration, not the app as shipped (no target applies). */
  whatIf: boolean;
  reqPerSec: Spread;
  p50Ms: Spread;
  p99Ms: Spread;
  requests: number;
  /**
   * CPU time per request (µs, median over runs) of the server process, of all PostgreSQL
   * processes, and of the bench process running autocannon (Linux /proc; absent elsewhere).
   */
  cpuUsPerRequest?: { server: number; postgres: number; loadGenerator: number };
  /** The session cache's answers over the timed runs, from the server's /metrics (cached server only). */
  cacheLookups?: CacheLookups;
}

/** Counts of `bodhi_session_cache_lookups_total` by result, and the share of hits. */
export interface CacheLookups {
  hit: number;
  miss: number;
  bypass: number;
  hitRate: number;
}

export interface HttpResult {
  endpoint: string;
  connections: number;
  sessions: number;
  seconds: number;
  warmupSeconds: number;
  reps: number;
  configs: HttpConfigResult[];
}

let clockTicks: number | undefined;
/** User + system CPU ms of a process (Linux), or NaN. */
export function processCpuMs(pid: number): number {
  try {
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return NaN;
  }
}

/** CPU ms of every process named `postgres` (server, backends, background workers), by pid. */
function postgresCpuMs(): Map<number, number> {
  const out = new Map<number, number>();
  try {
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres')
          out.set(Number(entry), processCpuMs(Number(entry)));
      } catch {
        // exited meanwhile
      }
    }
  } catch {
    // not Linux
  }
  return out;
}

function cpuSnapshot(serverPid: number | undefined) {
  const self = process.cpuUsage();
  return {
    server: serverPid ? processCpuMs(serverPid) : NaN,
    postgres: postgresCpuMs(),
    loadGenerator: (self.user + self.system) / 1000,
  };
}

/** CPU ms between two snapshots; a PostgreSQL process that exited in between is left out. */
function cpuDelta(before: ReturnType<typeof cpuSnapshot>, after: ReturnType<typeof cpuSnapshot>) {
  let postgres = 0;
  for (const [pid, ms] of after.postgres) postgres += ms - (before.postgres.get(pid) ?? 0);
  return {
    server: after.server - before.server,
    postgres: after.postgres.size ? postgres : NaN,
    loadGenerator: after.loadGenerator - before.loadGenerator,
  };
}

const LOOKUP_RESULTS = ['hit', 'miss', 'bypass'] as const;

/** The cache's lookups so far, from a scrape of the server's /metrics. */
async function cacheLookupsAt(serverUrl: string): Promise<Omit<CacheLookups, 'hitRate'>> {
  const exposition = await scrapeMetrics(`${serverUrl}/metrics`);
  const [hit, miss, bypass] = LOOKUP_RESULTS.map((result) =>
    exposition.sum('bodhi_session_cache_lookups_total', { result }),
  );
  return { hit, miss, bypass };
}

function withHitRate(c: Omit<CacheLookups, 'hitRate'>): CacheLookups {
  return { ...c, hitRate: c.hit / (c.hit + c.miss + c.bypass) };
}

/** A real login through the provider's form; returns `bodhiapp_session_id=…`. */
export async function login(base: string): Promise<string> {
  const client = new BodhiClient(base);
  await client.login(DEMO_USER.username, DEMO_USER.password);
  const user = await client.user();
  if (user.body.auth_status !== 'logged_in')
    throw new Error(`logged in, but /user says ${JSON.stringify(user.body)}`);
  if (!client.cookie) throw new Error('no session cookie after the login');
  return client.cookie;
}

export function cannon(options: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) =>
    autocannon(options, (err, result) => (err ? reject(err) : resolve(result))),
  );
}

interface Server {
  key: HttpConfigResult['key'];
  name: string;
  whatIf: boolean;
  url: string;
  proc: ServerProcess;
  cookies: string[];
  /** Its cache's lookups are read from /metrics around each timed run. */
  countsCacheLookups: boolean;
}

/** The built server script and provider of the HTTP runs; throws when not built. */
export function builtScripts(): { serverScript: string } {
  const idpScript = path.join(WORKSPACE_ROOT, DEV_AUTH_SERVER_SCRIPT);
  const serverScript = path.join(BENCH_ROOT, 'dist/http-server.js');
  for (const file of [idpScript, serverScript]) {
    if (!fs.existsSync(file))
      throw new Error(`${file} is missing: build first (npx nx run bench:build)`);
  }
  return { serverScript };
}

/**
 * A bench server (not started) on its own table/schema `name` of `ws`: the app as shipped in
 * production mode, at BODHI_LOG_LEVEL=warn unless `env` says otherwise.
 */
export function benchServerProcess(o: {
  ws: Workspace;
  name: string;
  /** The provider its users log in at; it learns the server's redirect URI once it listens. */
  idp: IdentityProviderProcess;
  home: string;
  label: string;
  env?: Record<string, string>;
}): ServerProcess {
  const options = oursOptions(o.ws, o.name);
  return new ServerProcess(
    serverEnv({
      home: o.home,
      port: 0,
      provider: o.idp.client,
      db: {
        url:
          o.ws.kind === 'postgres'
            ? o.ws.pgUrl
            : `sqlite:${path.join(o.ws.dir, `${o.name}.sqlite`)}`,
        table: options.tableName,
        schema: options.schema,
      },
      secret: BENCH_SECRET,
      logLevel: 'warn',
      env: { NODE_ENV: 'production', ...o.env },
    }),
    {
      name: `bench-server (${o.label})`,
      script: builtScripts().serverScript,
      onListening: (url) => o.idp.registerRedirectUri(url),
    },
  );
}

/** Our PostgreSQL store reading every session from the database (no cache). */
const POSTGRES = {
  kind: 'postgres',
  store: 'ours',
  env: { [BODHI_SESSION_CACHE]: 'off' },
} as const;

export async function runHttpBench(config: BenchConfig): Promise<HttpResult> {
  const { connections, seconds, warmupSeconds, reps } = config.http;
  builtScripts();

  const plan: {
    key: Server['key'];
    name: string;
    kind: SessionDbKind;
    store: 'ours' | 'memory';
    /** Settings of the configuration itself. */
    env?: Record<string, string>;
    /** Settings beyond the shipped defaults: a what-if, no target applies. */
    whatIf?: Record<string, string>;
  }[] = [
    { key: 'sqlite', name: 'ours, SQLite', kind: 'sqlite', store: 'ours' },
    // The store's own reads, one round trip each: what the cache is measured against.
    { ...POSTGRES, key: 'postgres', name: 'ours, PostgreSQL' },
    // The shipped default (cache on, metrics off): the cache's target.
    {
      key: 'postgres-cache',
      name: 'ours, PostgreSQL + cache',
      kind: 'postgres',
      store: 'ours',
      env: { [BODHI_SESSION_CACHE]: 'on' },
    },
    // The same with metrics served, for the cache's hit counts (read outside the timed runs);
    // served metrics sample the process (GC, event loop), a cost of their own.
    {
      key: 'postgres-cache-metrics',
      name: `what-if: ours, PostgreSQL + cache, ${BODHI_METRICS}=on (its hit rate)`,
      kind: 'postgres',
      store: 'ours',
      env: { [BODHI_SESSION_CACHE]: 'on' },
      whatIf: { [BODHI_METRICS]: 'on' },
    },
    { key: 'memory', name: 'MemoryStore (upper bound)', kind: 'sqlite', store: 'memory' },
    {
      ...POSTGRES,
      key: 'postgres-touch-always',
      name: `what-if: ours, PostgreSQL, ${BODHI_SESSION_TOUCH_AFTER_SECONDS}=0 (a write per request)`,
      whatIf: { [BODHI_SESSION_TOUCH_AFTER_SECONDS]: '0' },
    },
  ];
  const workspaces: Record<SessionDbKind, Workspace> = {
    sqlite: await openWorkspace('sqlite', config.pgUrl),
    postgres: await openWorkspace('postgres', config.pgUrl),
  };
  const idp = new IdentityProviderProcess({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    // No refresh during the runs: every request is a plain token verification.
    accessTokenTtlSeconds: 3600,
  });
  const homes: TempHome[] = [];
  const servers: Server[] = [];
  const procs: ServerProcess[] = [];
  const stopAll = () => Promise.all([...procs.map((proc) => proc.stop()), idp.stop()]);
  const unregister = onInterrupt(stopAll);
  try {
    await idp.up();
    for (const p of plan) {
      const home = tempHome('bodhi-bench-home-');
      homes.push(home);
      procs.push(
        benchServerProcess({
          ws: workspaces[p.kind],
          name: `http_${p.key.replace(/-/g, '_')}`,
          idp,
          home: home.dir,
          label: p.name,
          env: { BENCH_SESSION_STORE: p.store, ...p.env, ...p.whatIf },
        }),
      );
    }
    await Promise.all(procs.map((proc) => proc.up()));
    for (const [i, p] of plan.entries()) {
      const proc = procs[i];
      servers.push({
        key: p.key,
        name: p.name,
        url: proc.url,
        proc,
        cookies: [],
        whatIf: p.whatIf !== undefined,
        countsCacheLookups: p.whatIf?.[BODHI_METRICS] === 'on',
      });
    }
    for (const s of servers) {
      for (let i = 0; i < connections; i++) s.cookies.push(await login(s.url));
      progress(`http: ${s.name} up, ${connections} users logged in through the provider`);
    }

    const samples = new Map<
      string,
      { result: autocannon.Result; cpu: Record<string, number>; cache?: CacheLookups }[]
    >();
    const run = async (s: Server, duration: number) => {
      let next = 0;
      const lookupsBefore = s.countsCacheLookups ? await cacheLookupsAt(s.url) : undefined;
      const before = cpuSnapshot(s.proc.pid);
      const result = await cannon({
        url: `${s.url}/bodhi/v1/user`,
        connections,
        duration,
        // One logged-in session per connection.
        setupClient: (client) =>
          client.setHeaders({ cookie: s.cookies[next++ % s.cookies.length] }),
      });
      if (result.errors || result.non2xx || result.timeouts)
        throw new Error(
          `${s.name}: ${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts\n${s.proc.output()}`,
        );
      const delta = cpuDelta(before, cpuSnapshot(s.proc.pid));
      const lookupsAfter = lookupsBefore && (await cacheLookupsAt(s.url));
      const cache =
        lookupsBefore &&
        lookupsAfter &&
        withHitRate({
          hit: lookupsAfter.hit - lookupsBefore.hit,
          miss: lookupsAfter.miss - lookupsBefore.miss,
          bypass: lookupsAfter.bypass - lookupsBefore.bypass,
        });
      const perRequest = (ms: number) => (ms * 1000) / result.requests.total;
      const cpu = {
        server: perRequest(delta.server),
        postgres: perRequest(delta.postgres),
        loadGenerator: perRequest(delta.loadGenerator),
      };
      return { result, cpu, cache };
    };
    for (const s of servers) {
      progress(`http: warm-up ${s.name} (${warmupSeconds} s, excluded)`);
      await run(s, warmupSeconds);
    }
    for (let rep = 0; rep < reps; rep++) {
      const order = servers.map((_, i) => servers[(i + rep) % servers.length]);
      for (const s of order) {
        const sample = await run(s, seconds);
        samples.set(s.key, [...(samples.get(s.key) ?? []), sample]);
        const { result, cpu, cache } = sample;
        progress(
          `http: rep ${rep + 1}/${reps} ${s.name}: ${Math.round(result.requests.total / result.duration)} req/s, ` +
            `p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms; CPU µs/request: server ${Math.round(cpu.server)}, ` +
            `postgres ${Math.round(cpu.postgres)}, autocannon ${Math.round(cpu.loadGenerator)}` +
            (cache
              ? `; cache ${cache.hit} hits, ${cache.miss} misses, ${cache.bypass} bypasses (${(cache.hitRate * 100).toFixed(2)}% hits)`
              : ''),
        );
      }
    }
    // Still logged in after the load: every request was an authenticated one.
    for (const s of servers) {
      const res = await fetch(`${s.url}/bodhi/v1/user`, { headers: { cookie: s.cookies[0] } });
      const body = (await res.json()) as { auth_status?: string };
      if (body.auth_status !== 'logged_in')
        throw new Error(`${s.name}: session no longer logged in after the run`);
    }
    return {
      endpoint: 'GET /bodhi/v1/user',
      connections,
      sessions: connections,
      seconds,
      warmupSeconds,
      reps,
      configs: servers.map((s) => {
        const runs = samples.get(s.key) ?? [];
        const results = runs.map((r) => r.result);
        const cpu = (key: 'server' | 'postgres' | 'loadGenerator') =>
          spread(runs.map((r) => r.cpu[key])).median;
        const lookups = runs.flatMap((r) => (r.cache ? [r.cache] : []));
        const total = (result: (typeof LOOKUP_RESULTS)[number]) =>
          lookups.reduce((n, c) => n + c[result], 0);
        return {
          key: s.key,
          name: s.name,
          whatIf: s.whatIf,
          reqPerSec: spread(results.map((r) => r.requests.total / r.duration)),
          p50Ms: spread(results.map((r) => r.latency.p50)),
          p99Ms: spread(results.map((r) => r.latency.p99)),
          requests: results.reduce((n, r) => n + r.requests.total, 0),
          cpuUsPerRequest: Number.isFinite(cpu('server'))
            ? {
                server: cpu('server'),
                postgres: cpu('postgres'),
                loadGenerator: cpu('loadGenerator'),
              }
            : undefined,
          cacheLookups: lookups.length
            ? withHitRate({ hit: total('hit'), miss: total('miss'), bypass: total('bypass') })
            : undefined,
        };
      }),
    };
  } finally {
    unregister();
    await stopAll();
    for (const home of homes) home.remove();
    await workspaces.sqlite.close();
    await workspaces.postgres.close();
  }
}
