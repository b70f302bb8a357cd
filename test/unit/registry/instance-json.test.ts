import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { InstanceRow } from '../../../src/redis/scripts/decode.js';
import { instanceJson, rowsJson, toInstance } from '../../../src/registry/instance-json.js';

/** Rows as the scripts store them: JSON written by JSON.stringify of validated input. */
const row: fc.Arbitrary<InstanceRow> = fc.tuple(
  fc.string({ minLength: 1 }),
  fc.string(),
  fc.integer({ min: 1, max: 65535 }).map(String),
  fc.array(fc.string()).map((a) => JSON.stringify(a)),
  fc.array(fc.string()).map((a) => JSON.stringify(a)),
  fc.integer({ min: 0, max: 4_102_444_800_000 }).map(String),
  fc.integer({ min: 0, max: 4_102_444_800_000 }).map(String),
  fc.option(fc.string({ minLength: 1 })),
  fc.option(fc.dictionary(fc.string(), fc.jsonValue()).map((d) => JSON.stringify(d))),
);

describe('instance rows -> MeshInstance', () => {
  it('the JSON text is exactly JSON.stringify of the object, field order included', () => {
    fc.assert(
      fc.property(row, fc.boolean(), (r, leads) => {
        const leader = leads ? r[0] : 'someone-else';
        expect(instanceJson(r, leader)).toBe(JSON.stringify(toInstance(r, leader)));
      }),
      { numRuns: 500 },
    );
  });

  it('marks the leader and keeps an empty status as null', () => {
    const r: InstanceRow = ['a', 'h', '80', '["x"]', '[]', '0', '1000', '', null];
    expect(toInstance(r, 'a')).toMatchObject({ is_leader: true, status: null, metrics: null, port: 80, capabilities: ['x'] });
    expect(toInstance(r, null).is_leader).toBe(false);
    expect(rowsJson([r, r], 'a')).toBe(`[${instanceJson(r, 'a')},${instanceJson(r, 'a')}]`);
    expect(rowsJson([], null)).toBe('[]');
  });
});
