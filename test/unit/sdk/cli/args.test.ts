import { describe, expect, it } from 'vitest';
import { intArg, UsageError } from '../../../../sdk/src/cli/args.js';
import { messageTypeArg, payloadArg } from '../../../../sdk/src/cli/context.js';

describe('CLI arguments', () => {
  it('bounded numbers', () => {
    const limit = intArg('limit', 1, 1000);
    expect(limit('10')).toBe(10);
    expect(limit('1000')).toBe(1000);
    expect(() => limit('0')).toThrow(/--limit must be between 1 and 1000 \(got 0\)/);
    expect(() => limit('ten')).toThrow(UsageError);
    expect(() => limit('-5')).toThrow(/must be a number/);
  });

  it('message types and JSON payloads, with a usage error that says how to fix them', () => {
    expect(messageTypeArg('Query')).toBe('Query');
    expect(messageTypeArg('Custom:job')).toEqual({ Custom: 'job' });
    expect(() => messageTypeArg('Bogus')).toThrow(UsageError);
    expect(payloadArg('{"q":"hi"}')).toEqual({ q: 'hi' });
    expect(payloadArg('42')).toBe(42);
    expect(() => payloadArg('{q:hi}')).toThrow(/quote it, e.g. '\{"q":"hi"\}'/);
  });
});
