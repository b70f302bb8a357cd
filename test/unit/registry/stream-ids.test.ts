import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareStreamIds, isStreamId, MAX_STREAM_ID, STREAM_ID } from '../../../src/registry/stream-ids.js';

const U64 = 2n ** 64n - 1n;
const part = fc.bigInt({ min: 0n, max: U64 });

/** Reference: parse both parts as BigInt. */
function reference(a: string, b: string): number {
  const [am, as = '0'] = a.split('-');
  const [bm, bs = '0'] = b.split('-');
  const d = BigInt(am!) - BigInt(bm!) || BigInt(as) - BigInt(bs);
  return d === 0n ? 0 : d < 0n ? -1 : 1;
}

/** An id as a client may write it: seq optional, leading zeros allowed. */
const id = fc
  .tuple(part, fc.option(part), fc.nat({ max: 3 }), fc.nat({ max: 3 }))
  .map(([ms, seq, z1, z2]) => `${'0'.repeat(z1)}${ms}${seq === null ? '' : `-${'0'.repeat(z2)}${seq}`}`);

describe('stream ids', () => {
  it('compare as (ms, seq), like BigInt arithmetic, whatever their length or leading zeros', () => {
    fc.assert(
      fc.property(id, id, (a, b) => {
        expect(compareStreamIds(a, b)).toBe(reference(a, b));
      }),
      { numRuns: 5000 },
    );
  });

  it('order the cases the feed meets', () => {
    expect(compareStreamIds('1-0', '0-0')).toBe(1);
    expect(compareStreamIds('9-5', '10-0')).toBe(-1);
    expect(compareStreamIds('10-9', '10-10')).toBe(-1);
    expect(compareStreamIds('10', '10-0')).toBe(0);
    expect(compareStreamIds('010-1', '10-01')).toBe(0);
    expect(compareStreamIds('0', '0-0')).toBe(0);
    expect(compareStreamIds(MAX_STREAM_ID, '18446744073709551615-18446744073709551614')).toBe(1);
  });

  it('accept what Redis accepts as a start id, and nothing beyond 2^64-1', () => {
    expect(isStreamId('0')).toBe(true);
    expect(isStreamId('1764237600123-0')).toBe(true);
    expect(isStreamId(MAX_STREAM_ID)).toBe(true);
    expect(isStreamId('18446744073709551616-0')).toBe(false);
    expect(isStreamId('1-18446744073709551616')).toBe(false);
    expect(isStreamId('1-')).toBe(false);
    expect(isStreamId('-1')).toBe(false);
    expect(isStreamId('1-2-3')).toBe(false);
    expect(STREAM_ID.test('123456789012345678901')).toBe(false);
  });
});
