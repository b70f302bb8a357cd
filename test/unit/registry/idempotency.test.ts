import { describe, expect, it } from 'vitest';
import { fingerprint, parseIdempotencyKey } from '../../../src/registry/idempotency.js';

describe('Idempotency-Key', () => {
  it('takes a token or a quoted token, and nothing else', () => {
    expect(parseIdempotencyKey('0f8fad5b-d9cb-469f-a165-70867728950e')).toBe('0f8fad5b-d9cb-469f-a165-70867728950e');
    expect(parseIdempotencyKey('"abc:/+=~._-1"')).toBe('abc:/+=~._-1');
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    expect(parseIdempotencyKey(['a', 'b'])).toBeUndefined();
    expect(parseIdempotencyKey('')).toBeUndefined();
    expect(parseIdempotencyKey('has space')).toBeUndefined();
    expect(parseIdempotencyKey('x'.repeat(256))).toBeUndefined();
    expect(parseIdempotencyKey('x'.repeat(255))).toBe('x'.repeat(255));
  });

  it('fingerprints what is asked for: same request, same digest; any difference, another', () => {
    const a = fingerprint('send', ['t', null, 'Query', { q: 1 }, null]);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprint('send', ['t', null, 'Query', { q: 1 }, null])).toBe(a);
    expect(fingerprint('send', ['t', null, 'Query', { q: 2 }, null])).not.toBe(a);
    expect(fingerprint('request', ['t', null, 'Query', { q: 1 }, null])).not.toBe(a);
  });
});
