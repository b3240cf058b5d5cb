// The quantile of a cumulative histogram, computed as PromQL's histogram_quantile() does, so that
// `trellis stat` and a Prometheus dashboard agree on the same buckets.

export interface Bucket {
  /** Upper bound (Infinity for +Inf). */
  le: number;
  /** Cumulative count of observations <= le. */
  count: number;
}

/**
 * Linear interpolation inside the bucket where the rank falls, assuming observations spread
 * evenly in it; the lowest bucket starts at 0 (durations are never negative). A rank in the +Inf
 * bucket gives the highest finite bound, as PromQL does. null when there is no observation.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | null {
  if (buckets.length === 0 || Number.isNaN(q)) return null;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  if (sorted[sorted.length - 1].le !== Infinity) return null;
  // Counts of separate scrapes may disagree slightly; make them monotonic as PromQL does.
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].count < sorted[i - 1].count) sorted[i] = { le: sorted[i].le, count: sorted[i - 1].count };
  }
  const total = sorted[sorted.length - 1].count;
  if (!(total > 0)) return null;
  if (sorted.length < 2) return null;
  const rank = q * total;
  let i = 0;
  while (i < sorted.length - 1 && sorted[i].count < rank) i++;
  if (i === sorted.length - 1) return sorted[sorted.length - 2].le;
  const upper = sorted[i].le;
  if (i === 0 && upper <= 0) return upper;
  const lower = i === 0 ? 0 : sorted[i - 1].le;
  const below = i === 0 ? 0 : sorted[i - 1].count;
  const inBucket = sorted[i].count - below;
  if (inBucket <= 0) return upper;
  return lower + (upper - lower) * ((rank - below) / inBucket);
}
