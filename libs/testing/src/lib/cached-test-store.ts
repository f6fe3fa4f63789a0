/**
 * One instance of the session store as a server runs it on PostgreSQL, without Nest: its
 * DataSource, its session cache and listener, and the store and revocation records in
 * front of that cache, all measured in a registry of its own, so that a test can tell
 * which instance served what (a hit, a miss, a bypass; the statements it ran).
 */
import { BodhiMetrics } from '@bodhi/services';
import {
  createSessionDataSource,
  createSessionRevocations,
  createSessionStore,
  resolveSessionOptions,
  startSessionCache,
  type SessionCacheRuntime,
  type SessionModuleOptions,
} from '@bodhi/services/testing';
import { Logger } from '@nestjs/common';
import type { SessionData } from 'express-session';
import { testSessionOptions, type TestSessionDb } from './session-db.js';

export async function openCachedTestStore(
  db: TestSessionDb,
  overrides: Partial<SessionModuleOptions> = {},
  logger = new Logger('SessionCache'),
) {
  const options = resolveSessionOptions(testSessionOptions(db, overrides));
  const metrics = new BodhiMetrics();
  const dataSource = await createSessionDataSource(options);
  let runtime: SessionCacheRuntime | null;
  try {
    runtime = await startSessionCache(dataSource, options, metrics, logger);
  } catch (e) {
    await dataSource.destroy();
    throw e;
  }
  const cache = runtime?.cache;
  const store = createSessionStore(dataSource, options, metrics, cache);
  const revocations = createSessionRevocations(dataSource, options, metrics, cache);
  return {
    options,
    metrics,
    dataSource,
    store,
    revocations,
    /** Null when the options turn the cache off. */
    runtime,
    /** How this instance answered reads so far, and what it heard from the database. */
    counts: () => cacheCounts(metrics),
    /** `store.findSession`, and how this instance answered it. */
    async read(sid: string): Promise<CountedRead> {
      const before = await cacheCounts(metrics);
      const session = await store.findSession(sid);
      const after = await cacheCounts(metrics);
      const lookup = (['hit', 'miss', 'bypass'] as const).find((r) => after[r] > before[r]);
      return { session, lookup: lookup ?? 'none', statements: after.get - before.get };
    },
    async close(): Promise<void> {
      await runtime?.listener.stop();
      await dataSource.destroy();
    },
  };
}

export type CachedTestStore = Awaited<ReturnType<typeof openCachedTestStore>>;

/** A read of one session, and how the instance answered it. */
export interface CountedRead {
  session: SessionData | null;
  /** What the cache said; `none` when it was not asked (no cache, or inside a lock). */
  lookup: 'hit' | 'miss' | 'bypass' | 'none';
  /** `get` statements the read ran on the database: 0 on a hit. */
  statements: number;
}

/** Cache lookups by result, `get` statements run, and invalidations heard by notification. */
export interface CacheCounts {
  hit: number;
  miss: number;
  bypass: number;
  get: number;
  notified: number;
}

export async function cacheCounts(metrics: BodhiMetrics): Promise<CacheCounts> {
  const lookups = (await metrics.sessionCacheLookups.get()).values;
  const lookup = (result: string) => lookups.find((v) => v.labels.result === result)?.value ?? 0;
  const timed = (await metrics.storeOperationDuration.get()).values;
  const get =
    timed.find((v) => v.metricName?.endsWith('_count') && v.labels.operation === 'get')?.value ?? 0;
  const notified = (await metrics.sessionCacheInvalidations.get()).values
    .filter((v) => v.labels.source === 'notify')
    .reduce((sum, v) => sum + v.value, 0);
  return { hit: lookup('hit'), miss: lookup('miss'), bypass: lookup('bypass'), get, notified };
}
