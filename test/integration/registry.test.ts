// Every /registry route and the health routes: status codes and exact JSON shapes.
import { beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { AgentsResponse, ErrorBody, HealthResponse, MeshInstance, RegisterResponse } from '../../sdk/src/types.js';
import { heartbeat, meshPerSuite, register, registerBody } from '../helpers/app.js';
import { match } from '../helpers/match.js';

const RFC3339_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const INSTANCE_KEYS = [
  'instance_id',
  'hostname',
  'port',
  'capabilities',
  'is_leader',
  'last_heartbeat',
  'created_at',
  'agent_profiles',
  'status',
  'metrics',
].sort();

const mesh = meshPerSuite();
let app: FastifyInstance;
/** The first leader's term: Redis time in ms when the namespace began (+1 per change after that). */
let t1 = 0;

beforeAll(async () => {
  app = mesh.apps[0]!;
});

describe('POST /registry/register', () => {
  it('registers, returns peers including the caller, nulls present', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/registry/register',
      payload: registerBody('reg-a', { capabilities: ['code', 'search'], agent_profiles: ['default'], port: 3000 }),
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.headers['x-request-id']).toBeTruthy();
    const body = res.json<RegisterResponse>();
    expect(Object.keys(body).sort()).toEqual([
      'instance_id',
      'instance_token',
      'is_leader',
      'leader_id',
      'leader_term',
      'peers',
      'peers_next_cursor',
      'peers_truncated',
      'success',
    ]);
    expect(body).toMatchObject({ peers_truncated: false, peers_next_cursor: null });
    t1 = body.leader_term;
    // Not 1: a term starts from Redis' clock, so terms stay above those of a lost earlier life.
    expect(t1).toBeGreaterThan(Date.now() - 600_000);
    expect(t1).toBeLessThan(2 ** 53);
    expect(body).toMatchObject({
      success: true,
      instance_id: 'reg-a',
      is_leader: true,
      leader_id: 'reg-a',
      leader_term: t1,
      instance_token: null,
    });
    expect(body.peers).toHaveLength(1);
    const peer = body.peers[0]!;
    expect(Object.keys(peer).sort()).toEqual(INSTANCE_KEYS);
    expect(peer).toMatchObject({
      instance_id: 'reg-a',
      hostname: 'reg-a.local',
      port: 3000,
      capabilities: ['code', 'search'],
      agent_profiles: ['default'],
      is_leader: true,
      status: null,
      metrics: null,
    });
    expect(peer.created_at).toMatch(RFC3339_Z);
    expect(peer.last_heartbeat).toMatch(RFC3339_Z);
  });

  it('a second instance joins as a follower and sees both peers', async () => {
    const body = await register(app, 'reg-b', { capabilities: ['code'] });
    expect(body.is_leader).toBe(false);
    expect(body.leader_id).toBe('reg-a');
    expect(body.peers.map((p) => p.instance_id)).toEqual(['reg-a', 'reg-b']);
    expect(body.peers.find((p) => p.instance_id === 'reg-a')!.is_leader).toBe(true);
  });

  it('re-registering keeps created_at, join order and leadership, and updates the record', async () => {
    const before = (await app.inject({ url: '/registry/agents/reg-a' })).json<MeshInstance>();
    const body = await register(app, 'reg-a', { capabilities: ['code'], port: 3001 });
    expect(body.is_leader).toBe(true);
    expect(body.leader_term).toBe(t1);
    const after = (await app.inject({ url: '/registry/agents/reg-a' })).json<MeshInstance>();
    expect(after.created_at).toBe(before.created_at);
    expect(after.port).toBe(3001);
    expect(after.capabilities).toEqual(['code']);
    // The capability index follows the new record.
    const search = (await app.inject({ url: '/registry/agents?capability=search' })).json<AgentsResponse>();
    expect(search.instances).toEqual([]);
    await register(app, 'reg-a', { capabilities: ['code', 'search'], port: 3000 });
  });

  it.each([
    ['missing fields', { instance_id: 'x' }],
    ['port as string', { ...registerBody('x'), port: '80' }],
    ['port out of range', { ...registerBody('x'), port: 70000 }],
    ['bad id', { ...registerBody('x'), instance_id: 'a b' }],
    ['hash-tag id', { ...registerBody('x'), instance_id: '{x}' }],
    ['bad hostname', { ...registerBody('x'), hostname: 'has space' }],
    ['capabilities not a list', { ...registerBody('x'), capabilities: 'code' }],
    ['bad capability', { ...registerBody('x'), capabilities: ['a b'] }],
  ])('400 with a JSON error naming the field: %s', async (_name, payload) => {
    const res = await app.inject({ method: 'POST', url: '/registry/register', payload });
    expect(res.statusCode).toBe(400);
    const body = res.json<ErrorBody>();
    expect(body.code).toBe('invalid_request');
    expect(typeof body.error).toBe('string');
    expect(body.error).toMatch(/body\./);
  });

  it('400 for malformed JSON and 415 for a non-JSON body', async () => {
    const bad = await app.inject({
      method: 'POST',
      url: '/registry/register',
      headers: { 'content-type': 'application/json' },
      payload: '{"x":',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<ErrorBody>().code).toBe('invalid_json');
    const text = await app.inject({ method: 'POST', url: '/registry/register', headers: { 'content-type': 'text/plain' }, payload: 'hi' });
    expect(text.statusCode).toBe(415);
    expect(text.json<ErrorBody>().code).toBe('unsupported_media_type');
  });
});

describe('GET /registry/agents', () => {
  it('lists live instances oldest first with the leader', async () => {
    const res = await app.inject({ url: '/registry/agents' });
    expect(res.statusCode).toBe(200);
    const body = res.json<AgentsResponse>();
    expect(Object.keys(body).sort()).toEqual(['instances', 'leader_id', 'leader_term', 'next_cursor']);
    expect(body.leader_id).toBe('reg-a');
    expect(body.instances.map((i) => i.instance_id)).toEqual(['reg-a', 'reg-b']);
    expect(body.instances.filter((i) => i.is_leader)).toHaveLength(1);
  });

  it('filters by capability', async () => {
    const res = await app.inject({ url: '/registry/agents?capability=search' });
    expect(res.json<AgentsResponse>().instances.map((i) => i.instance_id)).toEqual(['reg-a']);
    const none = await app.inject({ url: '/registry/agents?capability=nobody-has-this' });
    expect(none.json<AgentsResponse>().instances).toEqual([]);
    const bad = await app.inject({ url: '/registry/agents?capability=a%20b' });
    expect(bad.statusCode).toBe(400);
  });

  it('pages with limit and cursor', async () => {
    await register(app, 'reg-c');
    const p1 = (await app.inject({ url: '/registry/agents?limit=2' })).json<AgentsResponse>();
    expect(p1.instances.map((i) => i.instance_id)).toEqual(['reg-a', 'reg-b']);
    expect(p1.next_cursor).toEqual(match.any(String));
    const p2 = (await app.inject({ url: `/registry/agents?limit=2&cursor=${p1.next_cursor}` })).json<AgentsResponse>();
    expect(p2.instances.map((i) => i.instance_id)).toEqual(['reg-c']);
    expect(p2.next_cursor).toBeNull();
    expect((await app.inject({ url: '/registry/agents?limit=0' })).statusCode).toBe(400);
    expect((await app.inject({ url: '/registry/agents?cursor=abc' })).statusCode).toBe(400);
  });

  it('GET /registry/agents/{id}: 200 for live, 404 JSON for unknown, 400 for a bad id', async () => {
    const ok = await app.inject({ url: '/registry/agents/reg-b' });
    expect(ok.statusCode).toBe(200);
    expect(Object.keys(ok.json<object>()).sort()).toEqual(INSTANCE_KEYS);
    const missing = await app.inject({ url: '/registry/agents/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json<ErrorBody>().code).toBe('instance_not_found');
    expect((await app.inject({ url: '/registry/agents/a%7Bb%7D' })).statusCode).toBe(400);
  });

  it('GET /registry/leader', async () => {
    const res = await app.inject({ url: '/registry/leader' });
    expect(res.statusCode).toBe(200);
    expect(res.json<unknown>()).toEqual({ leader_id: 'reg-a', leader_term: t1 });
  });
});

describe('POST /registry/heartbeat/{id}', () => {
  it('acknowledges and stores status and metrics', async () => {
    const res = await heartbeat(app, 'reg-b', { status: 'busy', metrics: { load: 0.5, jobs: 3, ok: true, note: 'x', gone: null } });
    expect(res.statusCode).toBe(200);
    expect(res.json<unknown>()).toEqual({ acknowledged: true, leader_id: 'reg-a', should_sync: false, leader_term: t1 });
    const inst = (await app.inject({ url: '/registry/agents/reg-b' })).json<MeshInstance>();
    expect(inst.status).toBe('busy');
    expect(inst.metrics).toEqual({ load: 0.5, jobs: 3, ok: true, note: 'x', gone: null });
  });

  it('accepts metrics omitted or null (seed clients send null)', async () => {
    expect((await heartbeat(app, 'reg-b', { status: 'healthy' })).statusCode).toBe(200);
    expect((await heartbeat(app, 'reg-b', { status: 'healthy', metrics: null })).statusCode).toBe(200);
    const inst = (await app.inject({ url: '/registry/agents/reg-b' })).json<MeshInstance>();
    expect(inst.metrics).toBeNull();
  });

  it('404 with the contract body for an unknown id', async () => {
    const res = await heartbeat(app, 'ghost');
    expect(res.statusCode).toBe(404);
    expect(res.json<unknown>()).toEqual({ acknowledged: false, leader_id: 'reg-a', should_sync: false, leader_term: t1 });
  });

  it('stores nested metrics (any JSON value, as the seed) and returns them exactly as sent', async () => {
    const metrics = { tasks: { running: 2, queued: [1, 2] }, tags: ['a', { b: null }], load: 0.25, label: 'é ✓' };
    expect((await heartbeat(app, 'reg-b', { status: 'busy', metrics })).statusCode).toBe(200);
    expect((await app.inject({ url: '/registry/agents/reg-b' })).json<MeshInstance>().metrics).toEqual(metrics);
    const listed = (await app.inject({ url: '/registry/agents' })).json<AgentsResponse>().instances.find((i) => i.instance_id === 'reg-b');
    expect(listed?.metrics).toEqual(metrics);
    // Key order and values survive as sent (the listing copies the stored JSON text).
    expect((await app.inject({ url: '/registry/agents' })).body).toContain(JSON.stringify(metrics));
  });

  it('400 for bad bodies: status missing, metrics not an object, too deep, too many keys, too big', async () => {
    expect((await heartbeat(app, 'reg-b', { metrics: null })).statusCode).toBe(400);
    expect((await heartbeat(app, 'reg-b', { status: 'x', metrics: [1, 2] })).statusCode).toBe(400);
    expect((await heartbeat(app, 'reg-b', { status: 'x', metrics: 3 })).statusCode).toBe(400);
    let deep: unknown = 1;
    for (let i = 0; i < 9; i++) deep = { d: deep };
    const tooDeep = await heartbeat(app, 'reg-b', { status: 'x', metrics: deep as Record<string, unknown> });
    expect(tooDeep.statusCode).toBe(400);
    expect(tooDeep.json<ErrorBody & { issues: { field: string }[] }>().issues[0]?.field).toBe('body.metrics');
    expect((await heartbeat(app, 'reg-b', { status: 'x', metrics: { big: 'x'.repeat(4100) } })).statusCode).toBe(400);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]));
    expect((await heartbeat(app, 'reg-b', { status: 'x', metrics: many })).statusCode).toBe(400);
    expect((await heartbeat(app, 'reg-b', { status: 'x'.repeat(65) })).statusCode).toBe(400);
  });
});

describe('DELETE /registry/deregister/{id}', () => {
  it('204 empty, then 404 with a JSON error; the instance leaves listings', async () => {
    await register(app, 'reg-gone');
    const res = await app.inject({ method: 'DELETE', url: '/registry/deregister/reg-gone' });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    const again = await app.inject({ method: 'DELETE', url: '/registry/deregister/reg-gone' });
    expect(again.statusCode).toBe(404);
    expect(again.headers['content-type']).toMatch(/application\/json/);
    expect(again.json<ErrorBody>()).toMatchObject({ code: 'instance_not_found', error: match.stringContaining('reg-gone') });
    const list = (await app.inject({ url: '/registry/agents' })).json<AgentsResponse>();
    expect(list.instances.map((i) => i.instance_id)).not.toContain('reg-gone');
    expect(await mesh.redis.exists(mesh.keys.inst('reg-gone'))).toBe(0);
  });
});

describe('health', () => {
  it('/health, /livez, /readyz', async () => {
    const h = await app.inject({ url: '/health' });
    expect(h.statusCode).toBe(200);
    const body = h.json<HealthResponse>();
    expect(body).toMatchObject({ status: 'ok', version: match.any(String), active_sessions: 3 });
    expect(typeof body.uptime_seconds).toBe('number');
    expect((await app.inject({ url: '/livez' })).statusCode).toBe(200);
    // The eviction check's details ride along (test/integration/eviction-check.test.ts has the rest).
    expect((await app.inject({ url: '/readyz' })).json<unknown>()).toEqual({
      status: 'ready',
      eviction: match.objectContaining({ result: 'ok', mode: 'enforce' }),
    });
  });

  it('unknown routes are JSON 404s', async () => {
    const res = await app.inject({ url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json<ErrorBody>().code).toBe('not_found');
  });
});
