import { describe, expect, it } from '@jest/globals';
import { percentile } from './stats.js';

describe('percentile (nearest rank)', () => {
  it('is the smallest sample with at least q of the samples at or below it', () => {
    const samples = [15, 20, 35, 40, 50];
    expect(percentile(samples, 0.05)).toBe(15);
    expect(percentile(samples, 0.3)).toBe(20);
    expect(percentile(samples, 0.4)).toBe(20);
    expect(percentile(samples, 0.5)).toBe(35);
    expect(percentile(samples, 1)).toBe(50);
  });

  it('takes samples unsorted, as a typed array too, without reordering them', () => {
    const samples = new Float64Array([9, 1, 5, 3, 7]);
    expect(percentile(samples, 0.5)).toBe(5);
    expect(percentile(samples, 0.99)).toBe(9);
    expect([...samples]).toEqual([9, 1, 5, 3, 7]);
  });

  it('is always a measured value: q 0 is the minimum, one sample is every percentile', () => {
    expect(percentile([4, 2, 8], 0)).toBe(2);
    expect(percentile([42], 0.5)).toBe(42);
    expect(percentile([42], 0.99)).toBe(42);
  });

  it('is NaN for no samples', () => {
    expect(percentile([], 0.5)).toBeNaN();
  });
});
