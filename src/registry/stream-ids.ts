// Redis stream ids (`<ms>-<seq>`, both unsigned 64-bit): the events feed's cursors, checked and
// compared here and nowhere else.

/** `0`, `<ms>` or `<ms>-<seq>`: the shape XRANGE accepts as a start id (see isStreamId for range). */
export const STREAM_ID = /^\d{1,20}(-\d{1,20})?$/;

const UINT64_MAX = 2n ** 64n - 1n;

/** The largest id: nothing can follow it (and Redis refuses an exclusive range starting there). */
export const MAX_STREAM_ID = `${UINT64_MAX}-${UINT64_MAX}`;

/** A stream id Redis accepts: the STREAM_ID shape with both parts at most 2^64-1. */
export function isStreamId(s: string): boolean {
  return STREAM_ID.test(s) && s.split('-').every((part) => BigInt(part) <= UINT64_MAX);
}

/** Compares two unsigned decimal numbers of any length (leading zeros allowed) without parsing them. */
function compareDecimal(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length - 1 && a[i] === '0') i++;
  while (j < b.length - 1 && b[j] === '0') j++;
  const la = a.length - i;
  const lb = b.length - j;
  if (la !== lb) return la < lb ? -1 : 1;
  const x = i === 0 ? a : a.slice(i);
  const y = j === 0 ? b : b.slice(j);
  return x === y ? 0 : x < y ? -1 : 1;
}

/** Orders stream ids as (ms, seq): -1, 0 or 1. A bare `<ms>` counts as `<ms>-0`. */
export function compareStreamIds(a: string, b: string): number {
  const i = a.indexOf('-');
  const j = b.indexOf('-');
  const byMs = compareDecimal(i < 0 ? a : a.slice(0, i), j < 0 ? b : b.slice(0, j));
  if (byMs !== 0) return byMs;
  return compareDecimal(i < 0 ? '0' : a.slice(i + 1), j < 0 ? '0' : b.slice(j + 1));
}
