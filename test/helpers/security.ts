// Helpers for the security suites (auth, validation, fuzz): authenticated inject calls, the list of
// "act as instance X" routes, JSON error assertions and snapshots of a namespace's Redis state.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Cluster, Redis } from 'ioredis';
import { expect } from 'vitest';

export interface CallOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string | null;
  body?: unknown;
  headers?: Record<string, string>;
}

type Method = 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH' | 'OPTIONS' | 'HEAD';

export function call(app: FastifyInstance, method: Method, url: string, o: CallOptions = {}): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  return app.inject({
    method,
    url,
    headers,
    ...(o.body !== undefined ? { payload: o.body as object } : {}),
  });
}

/** Asserts a JSON `{error, code}` body with this status (and code, when given). */
export function expectJsonError(res: LightMyRequestResponse, status: number, code?: string): { error: string; code: string } {
  expect(res.statusCode, `${res.statusCode} ${res.body}`).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
  const body = res.json<{ error: unknown; code: unknown }>();
  expect(typeof body.error, res.body).toBe('string');
  expect(typeof body.code, res.body).toBe('string');
  if (code) expect(body.code, res.body).toBe(code);
  expect(res.body).not.toMatch(/\bat .+\.(ts|js):\d+/); // never a stack trace
  return body as { error: string; code: string };
}

/** Every route that acts as instance `id`, with a body that would pass validation. */
export function actingRoutes(id: string, other: string): { name: string; method: Method; url: string; body?: unknown }[] {
  return [
    { name: 'heartbeat', method: 'POST', url: `/registry/heartbeat/${id}`, body: { status: 'ok', metrics: null } },
    {
      name: 'send',
      method: 'POST',
      url: `/messages/send/${id}`,
      body: { target_instance: other, message_type: 'Notification', payload: null, correlation_id: null },
    },
    {
      name: 'request',
      method: 'POST',
      url: `/messages/request/${id}`,
      body: { target_instance: other, message_type: 'Query', payload: null, timeout_ms: 50 },
    },
    { name: 'fetch', method: 'GET', url: `/messages/${id}` },
    { name: 'long-poll', method: 'GET', url: `/messages/${id}?wait=1` },
    { name: 'ack', method: 'POST', url: `/messages/ack/${id}`, body: { message_ids: [] } },
    { name: 'ack alias', method: 'POST', url: `/messages/${id}/ack`, body: { message_ids: [] } },
    { name: 'stream', method: 'GET', url: `/messages/${id}/stream` },
    { name: 'pending ids', method: 'GET', url: `/registry/agents/${id}/pending` },
    // Last: the loops that run every route in order need the instance until here.
    { name: 'deregister', method: 'DELETE', url: `/registry/deregister/${id}` },
  ];
}

/** Registry reads: any valid token in token/instance mode. */
export function readRoutes(id: string): { name: string; method: Method; url: string }[] {
  return [
    { name: 'agents', method: 'GET', url: '/registry/agents' },
    { name: 'agent', method: 'GET', url: `/registry/agents/${id}` },
    { name: 'leader', method: 'GET', url: '/registry/leader' },
    { name: 'stats', method: 'GET', url: '/registry/stats' },
    { name: 'inspect', method: 'GET', url: `/registry/inspect?ids=${id}` },
  ];
}

/**
 * Type-aware snapshot of keys (value and TTL presence): equal snapshots mean equal state. Stream
 * consumer groups are included (pending counts and last ids), since acks and fetches change them.
 */
export async function snapshotKeys(redis: Redis | Cluster, keys: string[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const key of [...keys].sort()) {
    const type = await redis.type(key);
    const ttl = (await redis.pttl(key)) >= 0 ? 'ttl' : 'none';
    let value: unknown;
    switch (type) {
      case 'string':
        value = await redis.get(key);
        break;
      case 'hash':
        value = await redis.hgetall(key);
        break;
      case 'set':
        value = (await redis.smembers(key)).sort();
        break;
      case 'zset':
        value = await redis.zrange(key, 0, -1, 'WITHSCORES');
        break;
      case 'list':
        value = await redis.lrange(key, 0, -1);
        break;
      case 'stream': {
        const entries = await redis.xrange(key, '-', '+');
        const groups = (await redis.xinfo('GROUPS', key)) as unknown[];
        value = { entries, groups };
        break;
      }
      case 'none':
        continue;
      default:
        value = (await redis.dumpBuffer(key))?.toString('base64') ?? null;
    }
    out[key] = { type, ttl, value };
  }
  return out;
}

/** Every key whose name contains `marker`, over the whole db (every master on a cluster; tests only). */
export async function keysContaining(redis: Redis | Cluster, marker: string): Promise<string[]> {
  // MATCH is a glob: escape its special characters so the marker is matched literally.
  const glob = `*${marker.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
  const nodes: Redis[] = 'nodes' in redis && typeof redis.nodes === 'function' ? redis.nodes('master') : [redis as Redis];
  const found = new Set<string>();
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', glob, 'COUNT', 1000);
      cursor = next;
      for (const k of batch) found.add(k);
    } while (cursor !== '0');
  }
  return [...found].sort();
}
