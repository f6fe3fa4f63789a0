import { jest } from '@jest/globals';
import { RecentMap } from './recent-map.js';

describe('RecentMap', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('keeps a value for retainMs after it was last set', () => {
    const map = new RecentMap<number>({ retainMs: 1000, max: 10 });
    map.set('a', 1);
    jest.advanceTimersByTime(999);
    expect(map.get('a')).toBe(1);
    map.set('a', 2);
    jest.advanceTimersByTime(999);
    expect(map.get('a')).toBe(2);
    jest.advanceTimersByTime(1);
    expect(map.get('a')).toBeUndefined();
  });

  it('at max, forgets the least recently set', () => {
    const map = new RecentMap<number>({ retainMs: 1000, max: 2 });
    map.set('a', 1);
    map.set('b', 2);
    map.set('a', 3);
    map.set('c', 4);
    expect([map.get('a'), map.get('b'), map.get('c')]).toEqual([3, undefined, 4]);
  });

  it('lists the entries set within a span, oldest first', () => {
    const map = new RecentMap<number>({ retainMs: 10_000, max: 10 });
    map.set('a', 1);
    jest.advanceTimersByTime(500);
    map.set('b', 2);
    jest.advanceTimersByTime(500);
    map.set('c', 3);
    expect([...map.setWithin(600)]).toEqual([
      ['b', 2],
      ['c', 3],
    ]);
  });
});
