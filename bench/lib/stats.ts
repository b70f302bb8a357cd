// Small statistics helpers: every figure the benchmarks print is the median of several runs with
// its min-max, and latencies are percentiles over raw samples (autocannon's own histogram rounds
// to whole milliseconds, too coarse for sub-millisecond answers).

export interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function summarize(values: number[]): Summary {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, runs: [] };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: values };
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

/**
 * Ratio of two measures taken in interleaved rounds (run i of `a` right after run i of `b`): one
 * ratio per round, so slow drift of a noisy machine cancels out instead of widening the range.
 */
export function pairedRatio(a: Summary, b: Summary): Summary {
  const n = Math.min(a.runs.length, b.runs.length);
  const per: number[] = [];
  for (let i = 0; i < n; i++) per.push(a.runs[i]! / b.runs[i]!);
  return summarize(per);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
