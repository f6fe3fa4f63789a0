/**
 * The nearest-rank percentile (`q` in 0..1) of unsorted samples: the smallest sample with at
 * least `q` of all samples at or below it, so always a measured value. NaN for no samples.
 * The one definition the benchmark and the soak report with.
 */
export function percentile(samples: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(samples).sort();
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}
