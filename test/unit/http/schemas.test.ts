import { describe, expect, it } from 'vitest';
import { hostname, instanceId, jsonDepthWithin, messageType, registerBody, sendBody } from '../../../src/http/schemas.js';

describe('wire schemas', () => {
  it('accepts ids of the documented charset and length only', () => {
    for (const ok of ['a', 'worker-1', 'host.example:8080', 'A_b.c:d-e', 'x'.repeat(128)]) {
      expect(instanceId.safeParse(ok).success, ok).toBe(true);
    }
    for (const bad of ['', '-a', '.a', 'a b', 'a{b}', 'a*', 'é', 'a\n', 'x'.repeat(129), 'a/b']) {
      expect(instanceId.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it('accepts RFC 1123 hostnames and IP addresses', () => {
    for (const ok of ['localhost', 'a.b.example.com', '10.0.0.1', '::1', 'x1-y2']) {
      expect(hostname.safeParse(ok).success, ok).toBe(true);
    }
    for (const bad of ['', 'a b', '-a', 'a_b', 'a'.repeat(64), `${'a.'.repeat(127)}ab`]) {
      expect(hostname.safeParse(bad).success, bad).toBe(false);
    }
  });

  it('message types are PascalCase builtins or {Custom}', () => {
    for (const ok of ['Query', 'Response', 'GraphSync', 'WorkflowStageResult', { Custom: 'x' }]) {
      expect(messageType.safeParse(ok).success).toBe(true);
    }
    for (const bad of ['query', 'task_delegation', 'Unknown', { Custom: '' }, { custom: 'x' }, { Custom: 'x', extra: 1 }, 5]) {
      expect(messageType.safeParse(bad).success).toBe(false);
    }
  });

  it('register body: port range, required lists', () => {
    const base = { instance_id: 'a', hostname: 'h', port: 1, capabilities: [], agent_profiles: [] };
    expect(registerBody.safeParse(base).success).toBe(true);
    expect(registerBody.safeParse({ ...base, port: 0 }).success).toBe(false);
    expect(registerBody.safeParse({ ...base, port: 65536 }).success).toBe(false);
    expect(registerBody.safeParse({ ...base, port: 1.5 }).success).toBe(false);
    expect(registerBody.safeParse({ ...base, capabilities: undefined }).success).toBe(false);
    expect(registerBody.safeParse({ ...base, capabilities: Array(65).fill('c') }).success).toBe(false);
    expect(registerBody.safeParse({ ...base, unknown_field: 1 }).success).toBe(true);
  });

  it('send body: payload required but may be null; depth bounded', () => {
    expect(sendBody.safeParse({ target_instance: null, message_type: 'Query', payload: null }).success).toBe(true);
    expect(sendBody.safeParse({ target_instance: null, message_type: 'Query' }).success).toBe(false);
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    expect(jsonDepthWithin(deep)).toBe(false);
    expect(sendBody.safeParse({ target_instance: null, message_type: 'Query', payload: deep }).success).toBe(false);
    expect(jsonDepthWithin({ a: { b: [1, 2, { c: null }] } })).toBe(true);
  });
});
