// What the session-cache e2e needs beyond a stack: a server's cache as its /metrics shows it,
// the cache's listening connections found (and killed) in pg_stat_activity, and many
// sessions made at once, since every try of the delay measurement ends one.
import { invalidationChannel, listenerApplicationName } from '@bodhi/services/testing';
import { BodhiClient } from './bodhi-client.js';
import { scrapeMetrics } from './metrics.js';
import type { TestSessionDb } from './session-db.js';
import { until } from './wait.js';

/** One server's session cache at one scrape of its /metrics (BODHI_METRICS=on). */
export interface ServerCacheState {
  /** bodhi_session_cache_serving: 1 while its listener is proven, else 0. */
  serving: number;
  /** bodhi_session_cache_lookups_total by result. */
  hits: number;
  misses: number;
  bypasses: number;
  /** bodhi_session_cache_invalidations_total{source="notify"}: what its listener heard. */
  notified: number;
  /** bodhi_session_cache_suspensions_total, every reason. */
  suspensions: number;
}

/** Scrapes `serverUrl`/metrics for its session cache. */
export async function serverCacheState(serverUrl: string): Promise<ServerCacheState> {
  const m = await scrapeMetrics(`${serverUrl}/metrics`);
  const lookups = (result: string) => m.sum('bodhi_session_cache_lookups_total', { result });
  return {
    serving: m.sum('bodhi_session_cache_serving'),
    hits: lookups('hit'),
    misses: lookups('miss'),
    bypasses: lookups('bypass'),
    notified: m.sum('bodhi_session_cache_invalidations_total', { source: 'notify' }),
    suspensions: m.sum('bodhi_session_cache_suspensions_total'),
  };
}

/**
 * Resolves with the state of `serverUrl`'s cache once `predicate` holds for it (polling
 * /metrics); rejects after `timeoutMs`, a hang guard.
 */
export async function untilServerCache(
  serverUrl: string,
  predicate: (state: ServerCacheState) => boolean,
  timeoutMs = 20_000,
): Promise<ServerCacheState> {
  let state: ServerCacheState | undefined;
  await until(async () => predicate((state = await serverCacheState(serverUrl))), timeoutMs);
  return state as ServerCacheState;
}

/**
 * The backend pids of the cache listeners of `db`'s session table: the connections named for
 * its channel (`listenerApplicationName`), so those of other suites' tables on the same
 * PostgreSQL are left alone. `clientPorts` (their pg_stat_activity.client_port) keeps only
 * those, e.g. the ones through a TcpProxy.
 */
export async function sessionListenerPids(
  db: TestSessionDb,
  clientPorts?: readonly number[],
): Promise<number[]> {
  const rows = await db.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity
      WHERE application_name = $1 AND datname = current_database()
        AND ($2::int[] IS NULL OR client_port = ANY($2::int[]))
      ORDER BY pid`,
    [
      listenerApplicationName(invalidationChannel(db.schema ?? 'public', db.table)),
      clientPorts ?? null,
    ],
  );
  return rows.map((r) => r.pid);
}

/** pg_terminate_backend on each of `pids`; resolves with how many PostgreSQL ended. */
export async function terminateBackends(db: TestSessionDb, pids: number[]): Promise<number> {
  const rows = await db.query<{ ended: boolean }>(
    'SELECT pg_terminate_backend(pid) AS ended FROM unnest($1::int[]) AS pid',
    [pids],
  );
  return rows.filter((r) => r.ended).length;
}

/**
 * `count` agents logged in as `who`, `concurrency` logins at a time, turn about at `urls`:
 * how a spec that ends many sessions makes them (a login is the expensive part).
 */
export async function loginMany(
  urls: readonly string[],
  who: { username: string; password: string },
  count: number,
  concurrency = 8,
): Promise<BodhiClient[]> {
  const agents = Array.from({ length: count }, (_, i) => new BodhiClient(urls[i % urls.length]));
  let next = 0;
  const worker = async () => {
    while (next < agents.length) await agents[next++].login(who.username, who.password);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return agents;
}
