// Display helpers: numbers, durations, heartbeat health.

const integer = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

export const fmtInt = (n: number): string => integer.format(n);
export const fmtRate = (n: number | null): string => (n === null ? '–' : n >= 100 ? integer.format(n) : decimal.format(n));

/** 850 ms, 4.2 s, 3 min 10 s, 2 h 5 min, 3 d 4 h */
export function fmtDuration(ms: number): string {
  const a = Math.max(0, ms);
  if (a < 1000) return `${Math.round(a)} ms`;
  if (a < 60_000) return `${decimal.format(a / 1000)} s`;
  const s = Math.floor(a / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

export const fmtTime = (iso: string): string => new Date(iso).toLocaleTimeString([], { hour12: false });

export type Health = 'ok' | 'warning' | 'lapsed';

/**
 * How close an agent is to lapsing: `warning` once two thirds of the stale timeout passed without
 * a heartbeat (with the default 5 s interval and 15 s timeout: two heartbeats missed, 5 s left).
 */
export function healthOf(ageMs: number, staleMs: number): Health {
  if (ageMs >= staleMs) return 'lapsed';
  if (ageMs >= (staleMs * 2) / 3) return 'warning';
  return 'ok';
}

/** One metric value as text: strings as they are, anything else (numbers, nested objects, arrays) as JSON. */
export function fmtMetricValue(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function fmtMetrics(m: Record<string, unknown> | null): string {
  if (!m) return '';
  return Object.entries(m)
    .map(([k, v]) => `${k}=${fmtMetricValue(v)}`)
    .join('  ');
}
