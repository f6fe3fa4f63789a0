import { BodhiMetrics } from './bodhi-metrics.js';

/** A gauge's value per `state` label. */
async function poolStates(metrics: BodhiMetrics): Promise<Record<string, number>> {
  const { values } = await metrics.poolConnections.get();
  return Object.fromEntries(values.map((v) => [String(v.labels.state), v.value]));
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

  it('collects the process metrics once, however often asked', async () => {
    const metrics = new BodhiMetrics();
    expect((await metrics.exposition()).body).not.toContain('process_cpu_user_seconds_total');
    metrics.collectProcess();
    metrics.collectProcess();
    const { body } = await metrics.exposition();
    expect(body.match(/^# TYPE process_cpu_user_seconds_total /gm)).toHaveLength(1);
  });

  it('sums the watched pools at each read, and reads zeros without one', async () => {
    const metrics = new BodhiMetrics();
    expect(await poolStates(metrics)).toEqual({ in_use: 0, idle: 0, waiting: 0 });
    let inUse = 1;
    metrics.watchPool(() => ({ inUse, idle: 2, waiting: 0 }));
    metrics.watchPool(() => ({ inUse: 3, idle: 1, waiting: 4 }));
    expect(await poolStates(metrics)).toEqual({ in_use: 4, idle: 3, waiting: 4 });
    inUse = 5;
    expect(await poolStates(metrics)).toEqual({ in_use: 8, idle: 3, waiting: 4 });
  });
});
