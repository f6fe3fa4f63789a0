import { describe, expect, it } from '@jest/globals';
import { Counter, Histogram, Registry } from 'prom-client';
import { parseExposition } from './metrics.js';

describe('parseExposition', () => {
  it("reads prom-client's exposition: labels (escaped too), sums by a label subset, series names", async () => {
    const registry = new Registry();
    const logins = new Counter({
      name: 'demo_logins_total',
      help: 'h',
      labelNames: ['outcome', 'reason'],
      registers: [registry],
    });
    logins.inc({ outcome: 'success', reason: 'none' }, 2);
    logins.inc({ outcome: 'failure', reason: 'a "quoted"\\ \nreason' }, 3);
    const wait = new Histogram({
      name: 'demo_wait_seconds',
      help: 'h',
      buckets: [1],
      registers: [registry],
    });
    wait.observe(0.5);
    new Histogram({
      name: 'demo_unobserved_seconds',
      help: 'h',
      labelNames: ['x'],
      registers: [registry],
    });

    const exposition = parseExposition(await registry.metrics());
    expect(exposition.sum('demo_logins_total')).toBe(5);
    expect(exposition.sum('demo_logins_total', { outcome: 'success' })).toBe(2);
    expect(exposition.sum('demo_logins_total', { reason: 'a "quoted"\\ \nreason' })).toBe(3);
    expect(exposition.sum('demo_logins_total', { outcome: 'other' })).toBe(0);
    expect(exposition.sum('demo_wait_seconds_count')).toBe(1);
    expect(exposition.sum('demo_wait_seconds_bucket', { le: '+Inf' })).toBe(1);
    expect(exposition.types.get('demo_wait_seconds')).toBe('histogram');
    // A labelled histogram nobody observed has no samples, but its series are declared.
    expect(exposition.samples.some((s) => s.name.startsWith('demo_unobserved'))).toBe(false);
    expect([...exposition.seriesNames()].sort()).toEqual([
      'demo_logins_total',
      'demo_unobserved_seconds_bucket',
      'demo_unobserved_seconds_count',
      'demo_unobserved_seconds_sum',
      'demo_wait_seconds_bucket',
      'demo_wait_seconds_count',
      'demo_wait_seconds_sum',
    ]);
  });

  it('reads infinities and throws on a line that is no sample', () => {
    expect(parseExposition('g{a="b"} +Inf\nh -Inf 1700000000000\n').samples).toEqual([
      { name: 'g', labels: { a: 'b' }, value: Infinity },
      { name: 'h', labels: {}, value: -Infinity },
    ]);
    expect(() => parseExposition('not a sample line at all')).toThrow(/unreadable/);
    expect(() => parseExposition('g{a=b} 1')).toThrow(/unreadable labels/);
  });
});
