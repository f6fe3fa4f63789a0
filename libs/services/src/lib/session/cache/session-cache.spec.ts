import { metricValues } from '@bodhi/testing';
import { BodhiMetrics } from '../../metrics/bodhi-metrics.js';
import { SessionCache, type SessionCacheOptions } from './session-cache.js';
import { type SessionChange, userKey } from '../cluster/channel-messages.js';
import type { Row } from '../sql/session-sql.executor.js';

/** The app clock `get` filters by (epoch ms): rows below expire at NOW + their lifetime. */
const NOW = 1_700_000_000_000;
const MAX_AGE_MS = 1000;

const row = (user: string | null, data = '{"cookie":{}}', expiresAt = NOW + 60_000): Row => ({
  data,
  expires_at: expiresAt,
  created_at: NOW - 1000,
  user_id: user,
  not_before: null,
});

describe('SessionCache (injected clock)', () => {
  let clock: number;
  let metrics: BodhiMetrics;
  let cache: SessionCache;

  const open = (options: SessionCacheOptions = {}) => {
    cache = new SessionCache({ clock: () => clock, maxAgeMs: MAX_AGE_MS, metrics, ...options });
    cache.resume();
    return cache;
  };
  /** A read of `key` that returns `found` from the database, as CachedStatements does on a miss. */
  const readThrough = (key: string, found: Row | undefined) =>
    cache.fill(cache.beginRead(key), found);

  beforeEach(() => {
    clock = 0;
    metrics = new BodhiMetrics();
    open();
  });

  it('misses, fills on the read, then hits with the row read', () => {
    const stored = row('u1');
    expect(cache.lookup('k1', NOW)).toBeUndefined();
    readThrough('k1', stored);
    expect(cache.lookup('k1', NOW)).toBe(stored);
    expect(cache.size).toBe(1);
  });

  it('keeps no row for a read that found none', () => {
    readThrough('k1', undefined);
    expect(cache.size).toBe(0);
    expect(cache.lookup('k1', NOW)).toBeUndefined();
  });

  it('bypasses before resume and after suspend: nothing served, nothing filled', async () => {
    const fresh = new SessionCache({ clock: () => clock, metrics });
    expect(fresh.isServing).toBe(false);
    fresh.fill(fresh.beginRead('k1'), row('u1'));
    expect(fresh.size).toBe(0);
    expect(fresh.lookup('k1', NOW)).toBeUndefined();

    readThrough('k2', row('u2'));
    cache.suspend('listener_lost');
    expect(cache.isServing).toBe(false);
    expect(cache.size).toBe(0);
    expect(cache.lookup('k2', NOW)).toBeUndefined();
    readThrough('k2', row('u2'));
    expect(cache.size).toBe(0);
    expect(await metricValues(metrics.sessionCacheLookups)).toEqual({ 'result=bypass': 2 });
  });

  it('serves an entry for less than the max age by its own clock, then reads again', () => {
    readThrough('k1', row('u1'));
    clock = MAX_AGE_MS - 1;
    expect(cache.lookup('k1', NOW)).toBeDefined();
    clock = MAX_AGE_MS;
    expect(cache.lookup('k1', NOW)).toBeUndefined();
    // The expired entry is gone, not kept for later.
    expect(cache.size).toBe(0);
  });

  it('never serves a row past its expiry by the app clock, however fresh the entry', () => {
    readThrough('k1', row('u1', undefined, NOW + 5000));
    expect(cache.lookup('k1', NOW + 4999)).toBeDefined();
    expect(cache.lookup('k1', NOW + 5000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('bounds the data it holds: the least recently used entry goes first', () => {
    open({ maxChars: 30 });
    const ten = (c: string) => c.repeat(10);
    readThrough('a', row('u1', ten('a')));
    readThrough('b', row('u2', ten('b')));
    readThrough('c', row('u3', ten('c')));
    // Using `a` makes `b` the least recently used.
    expect(cache.lookup('a', NOW)).toBeDefined();
    readThrough('d', row('u4', ten('d')));
    expect(cache.size).toBe(3);
    expect(cache.lookup('b', NOW)).toBeUndefined();
    for (const kept of ['a', 'c', 'd']) expect(cache.lookup(kept, NOW)).toBeDefined();
    // An entry larger than the whole bound is not kept at all.
    readThrough('big', row('u5', 'x'.repeat(31)));
    expect(cache.lookup('big', NOW)).toBeUndefined();
    // ...nor does it push the others out.
    for (const kept of ['a', 'c', 'd']) expect(cache.lookup(kept, NOW)).toBeDefined();
  });

  it("a user's change drops that user's entries only, through the user index", () => {
    readThrough('k1', row('u1'));
    readThrough('k2', row('u1'));
    readThrough('k3', row('u2'));
    readThrough('k4', row(null));
    cache.invalidate({ kind: 'user', userKey: userKey('u1') }, 'notify');
    expect(cache.lookup('k1', NOW)).toBeUndefined();
    expect(cache.lookup('k2', NOW)).toBeUndefined();
    expect(cache.lookup('k3', NOW)).toBeDefined();
    expect(cache.lookup('k4', NOW)).toBeDefined();
    // A key refilled for another user is indexed under that user alone.
    readThrough('k1', row('u2'));
    cache.invalidate({ kind: 'user', userKey: userKey('u1') }, 'notify');
    expect(cache.lookup('k1', NOW)).toBeDefined();
  });

  it('a session change drops its key; all drops everything', () => {
    readThrough('k1', row('u1'));
    readThrough('k2', row('u1'));
    cache.invalidate({ kind: 'session', key: 'k1' }, 'local');
    expect(cache.lookup('k1', NOW)).toBeUndefined();
    expect(cache.lookup('k2', NOW)).toBeDefined();
    cache.invalidate({ kind: 'all' }, 'notify');
    expect(cache.size).toBe(0);
  });

  describe('a read that was out while its row may have changed returns but does not fill', () => {
    it.each<[string, (c: SessionCache) => void]>([
      ['its key dropped', (c) => c.invalidate({ kind: 'session', key: 'k1' }, 'notify')],
      ['a user dropped', (c) => c.invalidate({ kind: 'user', userKey: userKey('u9') }, 'notify')],
      ['everything dropped', (c) => c.invalidate({ kind: 'all' }, 'notify')],
      [
        'a suspension and resume',
        (c) => {
          c.suspend('health_check');
          c.resume();
        },
      ],
    ])('%s', (_, change) => {
      const read = cache.beginRead('k1');
      change(cache);
      cache.fill(read, row('u1'));
      expect(cache.size).toBe(0);
      expect(cache.lookup('k1', NOW)).toBeUndefined();
    });

    it('one started while bypassed and back after the resume (it may predate a missed change)', () => {
      cache.suspend('listener_lost');
      const read = cache.beginRead('k1');
      cache.resume();
      cache.fill(read, row('u1'));
      expect(cache.size).toBe(0);
    });

    // (A probe heard never reaches the cache: the listener routes it to ClusterPeers.)
    it('but another key dropped meanwhile does not stop it', () => {
      const read = cache.beginRead('k1');
      cache.invalidate({ kind: 'session', key: 'k2' }, 'notify');
      cache.fill(read, row('u1'));
      expect(cache.lookup('k1', NOW)).toBeDefined();
    });

    it('two reads of one key out at once: a drop stops both', () => {
      const first = cache.beginRead('k1');
      const second = cache.beginRead('k1');
      cache.invalidate({ kind: 'session', key: 'k1' }, 'notify');
      cache.fill(first, row('u1'));
      cache.fill(second, row('u1'));
      expect(cache.size).toBe(0);
      // A read that starts after the drop fills again.
      readThrough('k1', row('u1'));
      expect(cache.size).toBe(1);
    });
  });

  describe('a key held (written in a transaction not committed yet)', () => {
    it('is not filled until released after its commit; no drop or notification releases it', () => {
      cache.hold('k1');
      readThrough('k1', row('u1'));
      cache.invalidate({ kind: 'session', key: 'k1' }, 'local');
      // A notification of an earlier commit of the key is not this transaction's.
      cache.invalidate({ kind: 'session', key: 'k1' }, 'notify');
      readThrough('k1', row('u1'));
      expect(cache.size).toBe(0);
      // Other keys fill as ever.
      readThrough('k2', row('u2'));
      expect(cache.size).toBe(1);
      // A read out at the release may have seen the row before the commit: it fills nothing.
      const before = cache.beginRead('k1');
      cache.release('k1');
      cache.fill(before, row('u1'));
      expect(cache.lookup('k1', NOW)).toBeUndefined();
      readThrough('k1', row('u1'));
      expect(cache.lookup('k1', NOW)).toBeDefined();
    });

    it('is released after the max age when no release comes (a rollback)', () => {
      cache.hold('k1');
      clock = MAX_AGE_MS - 1;
      readThrough('k1', row('u1'));
      expect(cache.size).toBe(0);
      clock = MAX_AGE_MS;
      readThrough('k1', row('u1'));
      expect(cache.size).toBe(1);
    });
  });

  it('counts lookups, entries, invalidations, serving and suspensions', async () => {
    readThrough('k1', row('u1'));
    readThrough('k2', row('u2'));
    cache.lookup('k1', NOW);
    cache.lookup('k3', NOW);
    expect(await metricValues(metrics.sessionCacheEntries)).toEqual({ '': 2 });
    const changes: [SessionChange, 'local' | 'notify'][] = [
      [{ kind: 'session', key: 'k1' }, 'local'],
      [{ kind: 'session', key: 'k9' }, 'notify'],
      [{ kind: 'user', userKey: userKey('u2') }, 'notify'],
      [{ kind: 'all' }, 'local'],
    ];
    for (const [message, source] of changes) cache.invalidate(message, source);
    expect(await metricValues(metrics.sessionCacheEntries)).toEqual({ '': 0 });
    expect(await metricValues(metrics.sessionCacheInvalidations)).toEqual({
      'kind=session,source=local': 1,
      'kind=session,source=notify': 1,
      'kind=user,source=notify': 1,
      'kind=all,source=local': 1,
    });
    expect(await metricValues(metrics.sessionCacheServing)).toEqual({ '': 1 });
    cache.suspend('listener_lost');
    // A second suspension while already bypassed is not another one.
    cache.suspend('health_check');
    cache.lookup('k1', NOW);
    expect(await metricValues(metrics.sessionCacheServing)).toEqual({ '': 0 });
    expect(await metricValues(metrics.sessionCacheSuspensions)).toEqual({
      'reason=listener_lost': 1,
    });
    expect(await metricValues(metrics.sessionCacheLookups)).toEqual({
      'result=hit': 1,
      'result=miss': 1,
      'result=bypass': 1,
    });
  });
});
