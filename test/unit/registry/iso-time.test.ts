import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoFromMs } from '../../../src/registry/iso-time.js';

describe('isoFromMs', () => {
  it('formats like Date.toISOString, for any millisecond of years 1970-9999', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 253_402_300_799_999 }), (ms) => {
        expect(isoFromMs(ms)).toBe(new Date(ms).toISOString());
        expect(isoFromMs(String(ms))).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 2000 },
    );
  });

  it('pads every field and keeps the millisecond', () => {
    expect(isoFromMs(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(isoFromMs(1_764_237_600_007)).toBe('2025-11-27T10:00:00.007Z');
    expect(isoFromMs(253_402_300_799_999)).toBe('9999-12-31T23:59:59.999Z');
  });

  it('leaves values outside that range to Date (its output, or its RangeError)', () => {
    expect(isoFromMs(-1)).toBe(new Date(-1).toISOString());
    expect(isoFromMs(253_402_300_800_000)).toBe(new Date(253_402_300_800_000).toISOString());
    expect(() => isoFromMs('not a number')).toThrow(RangeError);
  });
});
