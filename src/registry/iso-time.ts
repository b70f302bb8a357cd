// Redis TIME in ms -> the contract's timestamps (RFC 3339 UTC, millisecond precision, `Z`).

const DAY_MS = 86_400_000;
/** 'YYYY-MM-DDT' by day number; a listing touches few distinct days (join dates, today). */
const dayPrefixes = new Map<number, string>();

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n));

/**
 * Same output as `new Date(ms).toISOString()`, without a Date per call: listings format two
 * timestamps per row (docs/performance.md measures what that saved).
 */
export function isoFromMs(ms: number | string): string {
  const t = Number(ms);
  // Outside years 1970-9999 (or not a number) toISOString's own rules and errors apply.
  if (!(t >= 0 && t < 253_402_300_800_000) || !Number.isInteger(t)) return new Date(t).toISOString();
  const day = Math.floor(t / DAY_MS);
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    if (dayPrefixes.size >= 4096) dayPrefixes.clear();
    prefix = new Date(day * DAY_MS).toISOString().slice(0, 11);
    dayPrefixes.set(day, prefix);
  }
  let rest = t - day * DAY_MS;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Math.floor(rest / 1000);
  return `${prefix}${pad2(h)}:${pad2(m)}:${pad2(s)}.${pad3(rest - s * 1000)}Z`;
}
