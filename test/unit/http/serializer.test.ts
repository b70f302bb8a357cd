// The compiled answer serializer (src/http/serializer.ts): top-level string arrays go through
// JSON.stringify, everything else through fast-json-stringify; the text must be exactly what the
// plain compiled schema writes, unknown keys are dropped, and a missing required field still fails.
import fastJson from 'fast-json-stringify';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { registerResponse, sendResponse } from '../../../src/http/schemas.js';
import { compileFastSerializer } from '../../../src/http/serializer.js';

const plain = (schema: z.ZodType) =>
  fastJson(z.toJSONSchema(schema, { target: 'draft-7', io: 'output', unrepresentable: 'any' }) as fastJson.AnySchema) as (
    d: unknown,
  ) => string;

describe('compiled answer serializer', () => {
  it('writes a send answer exactly as the plain compiled schema does, ids with quotes and unicode included', () => {
    const answer = { message_id: 'm-1', status: 'queued', delivered_to: ['a', 'b"c', 'd\\e', 'ü-\u2028', ''], extra: 'dropped' };
    const text = compileFastSerializer(sendResponse)(answer);
    expect(text).toBe(plain(sendResponse)(answer));
    expect(JSON.parse(text)).toEqual({ message_id: 'm-1', status: 'queued', delivered_to: ['a', 'b"c', 'd\\e', 'ü-\u2028', ''] });
  });

  it('keeps the schema order and fails on a missing required field', () => {
    const text = compileFastSerializer(sendResponse)({ delivered_to: [], status: 'queued', message_id: 'm' });
    expect(Object.keys(JSON.parse(text) as object)).toEqual(['message_id', 'status', 'delivered_to']);
    expect(() => compileFastSerializer(sendResponse)({ message_id: 'm', status: 'queued' })).toThrow(/delivered_to/);
  });

  it('leaves nested arrays to the compiled schema (a register answer)', () => {
    const peer = {
      instance_id: 'a',
      hostname: 'h',
      port: 1,
      capabilities: ['x', 'y'],
      is_leader: true,
      last_heartbeat: '2026-12-01T00:00:00.000Z',
      created_at: '2026-12-01T00:00:00.000Z',
      agent_profiles: [],
      status: null,
      metrics: null,
    };
    const answer = {
      success: true,
      instance_id: 'a',
      is_leader: true,
      leader_id: 'a',
      leader_term: 3,
      peers: [peer],
      peers_truncated: false,
      peers_next_cursor: null,
      instance_token: null,
    };
    expect(compileFastSerializer(registerResponse)(answer)).toBe(plain(registerResponse)(answer));
  });
});
