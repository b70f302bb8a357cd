import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeStoredMessage, messageJson, parseMessage, typeName } from '../../../src/registry/message-json.js';

const body = fc
  .record({
    message_id: fc.uuid(),
    source_instance: fc.string({ minLength: 1 }),
    message_type: fc.oneof(fc.constantFrom('Query', 'Response', 'Notification'), fc.record({ Custom: fc.string() })),
    payload: fc.jsonValue(),
    correlation_id: fc.option(fc.uuid()),
  })
  .map((b) => JSON.stringify(b));

describe('stored bodies -> AgentMessage', () => {
  it('the spliced JSON and the decoded object carry the same fields and values', () => {
    fc.assert(
      fc.property(body, fc.option(fc.string({ minLength: 1 })), fc.integer({ min: 0, max: 4_102_444_800_000 }), (b, target, ms) => {
        const spliced = parseMessage({ message_id: '', json: messageJson(b, target, ms) });
        expect(spliced).toEqual(decodeStoredMessage(b, target, ms));
        expect(spliced.created_at).toBe(new Date(ms).toISOString());
        expect(spliced.target_instance).toBe(target);
      }),
      { numRuns: 500 },
    );
  });

  it('names custom types Custom on wake notices', () => {
    expect(typeName('Response')).toBe('Response');
    expect(typeName({ Custom: 'job' })).toBe('Custom');
  });
});
