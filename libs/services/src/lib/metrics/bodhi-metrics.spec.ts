import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BodhiMetrics, processRegistry } from './bodhi-metrics.js';

/** A gauge's value per `state` label. */
async function poolStates(metrics: BodhiMetrics): Promise<Record<string, number>> {
  const { values } = await metrics.poolConnections.get();
  return Object.fromEntries(values.map((v) => [String(v.labels.state), v.value]));
}

/** V8's full collection, reached without a node flag (a context made after the flag has `gc`). */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * Whether what `make` returns is collected once nothing but `make`'s side effects refer to
 * it. A WeakRef keeps its target until the job that made it ends, hence the turn first.
 */
async function collectedAfter(make: () => object): Promise<boolean> {
  const ref = new WeakRef(make());
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  return ref.deref() === undefined;
}

describe('BodhiMetrics', () => {
  it('two instances register the same names and count apart', async () => {
    const a = new BodhiMetrics();
    const b = new BodhiMetrics();
    a.storeErrors.inc({ operation: 'get', backend: 'sqlite', kind: 'unavailable' });
    expect((await a.storeErrors.get()).values.map((v) => v.value)).toEqual([1]);
    expect((await b.storeErrors.get()).values).toEqual([]);
    expect((await b.exposition()).body).not.toContain('kind="unavailable"');
  });

  it('serves one process-wide set of process metrics in every instance that asks, set up once', async () => {
    const a = new BodhiMetrics();
    expect((await a.exposition()).body).not.toContain('process_cpu_seconds_total');
    a.collectProcess();
    const registered = processRegistry().getMetricsAsArray().length;
    a.collectProcess();
    const b = new BodhiMetrics();
    b.collectProcess();
    // collectDefaultMetrics ran once: a second run would register its names again (and throw).
    expect(processRegistry().getMetricsAsArray().length).toBe(registered);
    for (const metrics of [a, b]) {
      const { body, contentType } = await metrics.exposition();
      expect(body.match(/^# TYPE process_cpu_seconds_total /gm)).toHaveLength(1);
      expect(body).toMatch(/^# TYPE bodhi_session_store_errors_total counter$/m);
      expect(contentType).toBe(processRegistry().contentType);
    }
  });

  it('an instance serving process metrics is collected once dropped, with the pools it read', async () => {
    const collected = await collectedAfter(() => {
      const pool = { inUse: 1, idle: 0, waiting: 0 };
      const metrics = new BodhiMetrics();
      metrics.collectProcess();
      metrics.watchPool(() => pool);
      return pool;
    });
    expect(collected).toBe(true);
  });

  it('sums the watched pools at each read; no series while none is watched', async () => {
    const metrics = new BodhiMetrics();
    expect(await poolStates(metrics)).toEqual({});
    let inUse = 1;
    metrics.watchPool(() => ({ inUse, idle: 2, waiting: 0 }));
    metrics.watchPool(() => ({ inUse: 3, idle: 1, waiting: 4 }));
    expect(await poolStates(metrics)).toEqual({ in_use: 4, idle: 3, waiting: 4 });
    inUse = 5;
    expect(await poolStates(metrics)).toEqual({ in_use: 8, idle: 3, waiting: 4 });
  });

  it('an unwatched pool is no longer read, nor kept alive', async () => {
    const metrics = new BodhiMetrics();
    metrics.watchPool(() => ({ inUse: 1, idle: 1, waiting: 0 }));
    let reads = 0;
    const collected = await collectedAfter(() => {
      const pool = { inUse: 2, idle: 0, waiting: 0 };
      const unwatch = metrics.watchPool(() => (reads++, pool));
      void poolStates(metrics);
      unwatch();
      return pool;
    });
    expect(reads).toBe(1);
    expect(await poolStates(metrics)).toEqual({ in_use: 1, idle: 1, waiting: 0 });
    expect(reads).toBe(1);
    expect(collected).toBe(true);
  });
});
