// Leader election: first registrant leads, sticky while renewed, immediate handover on deregister,
// bounded failover on lapse, terms only grow, exactly one leader under concurrency.
import { describe, expect, it } from 'vitest';
import type { AgentsResponse, HealthResponse, HeartbeatResponse, LeaderInfo } from '../../sdk/src/types.js';
import { eventually, heartbeat, meshPerTest, register, sleep, type TestMesh } from '../helpers/app.js';

const startMesh = meshPerTest();

const leaderOf = async (m: TestMesh, i = 0) => (await m.apps[i]!.inject({ url: '/registry/leader' })).json<LeaderInfo>();
/** The namespace's first term (Redis time in ms when it began; +1 per change after that). */
const firstTerm = async (m: TestMesh) => Number(await m.redis.get(m.keys.term));

describe('leader election', () => {
  it('first registrant leads; re-registering the leader keeps it leader with the same term', async () => {
    const mesh = await startMesh();
    const app = mesh.apps[0]!;
    expect((await register(app, 'l1')).is_leader).toBe(true);
    const t1 = await firstTerm(mesh);
    expect((await register(app, 'l2')).is_leader).toBe(false);
    const again = await register(app, 'l1');
    expect(again).toMatchObject({ is_leader: true, leader_id: 'l1', leader_term: t1 });
    const list = (await app.inject({ url: '/registry/agents' })).json<AgentsResponse>();
    expect(list.instances.find((i) => i.instance_id === 'l1')?.is_leader).toBe(true);
    expect(list.leader_id).toBe('l1');
  });

  it('deregistering the leader hands over to the oldest live member at once, term + 1', async () => {
    const mesh = await startMesh();
    const app = mesh.apps[0]!;
    for (const id of ['d1', 'd2', 'd3']) await register(app, id);
    const t1 = await firstTerm(mesh);
    expect(await leaderOf(mesh)).toEqual({ leader_id: 'd1', leader_term: t1 });
    expect((await app.inject({ method: 'DELETE', url: '/registry/deregister/d1' })).statusCode).toBe(204);
    // No script other than the deregister ran: the handover happened inside it.
    expect(await mesh.redis.get(mesh.keys.leader)).toBe('d2');
    expect(await leaderOf(mesh)).toEqual({ leader_id: 'd2', leader_term: t1 + 1 });
    const hb = (await heartbeat(app, 'd3')).json<HeartbeatResponse>();
    expect(hb).toMatchObject({ leader_id: 'd2', leader_term: t1 + 1 });
    await app.inject({ method: 'DELETE', url: '/registry/deregister/d3' });
    expect(await leaderOf(mesh)).toEqual({ leader_id: 'd2', leader_term: t1 + 1 });
    await app.inject({ method: 'DELETE', url: '/registry/deregister/d2' });
    expect(await leaderOf(mesh)).toEqual({ leader_id: null, leader_term: t1 + 1 });
    // The next member to join leads with a new term: terms never go back.
    expect(await register(app, 'd4')).toMatchObject({ is_leader: true, leader_term: t1 + 2 });
  });

  it('a leader that stops heartbeating is replaced within stale timeout + one heartbeat interval', async () => {
    const stale = 600;
    const interval = 150;
    const mesh = await startMesh({ STALE_TIMEOUT_MS: stale, HEARTBEAT_INTERVAL_MS: interval });
    const app = mesh.apps[0]!;
    await register(app, 'old-leader');
    const t1 = await firstTerm(mesh);
    await register(app, 'f1');
    await register(app, 'f2');
    const lastLeaderBeat = Date.now();
    let seen: HeartbeatResponse | null = null;
    // Followers keep heartbeating on their interval; the leader has gone silent.
    while (Date.now() - lastLeaderBeat < stale + interval * 4) {
      const r1 = (await heartbeat(app, 'f1')).json<HeartbeatResponse>();
      await heartbeat(app, 'f2');
      if (r1.leader_id !== 'old-leader') {
        seen = r1;
        break;
      }
      await sleep(interval);
    }
    const elapsed = Date.now() - lastLeaderBeat;
    expect(seen).toMatchObject({ leader_id: 'f1', leader_term: t1 + 1 });
    expect(elapsed).toBeGreaterThanOrEqual(stale);
    expect(elapsed).toBeLessThanOrEqual(stale + interval + 100);
    // The lapsed leader gets 404 and, once it re-registers, joins at the back of the line.
    expect((await heartbeat(app, 'old-leader')).statusCode).toBe(404);
    const back = await register(app, 'old-leader');
    expect(back).toMatchObject({ is_leader: false, leader_id: 'f1', leader_term: t1 + 1 });
    const order = (await app.inject({ url: '/registry/agents' })).json<AgentsResponse>().instances.map((i) => i.instance_id);
    expect(order).toEqual(['f1', 'f2', 'old-leader']);
  });

  it('a live leader stays leader while it heartbeats, even as others come and go', async () => {
    const mesh = await startMesh({ STALE_TIMEOUT_MS: 400, HEARTBEAT_INTERVAL_MS: 100 });
    const app = mesh.apps[0]!;
    await register(app, 's1');
    const t1 = await firstTerm(mesh);
    for (let i = 0; i < 8; i++) {
      await register(app, `tmp-${i}`);
      await heartbeat(app, 's1');
      await sleep(100);
    }
    expect(await leaderOf(mesh)).toEqual({ leader_id: 's1', leader_term: t1 });
  });

  it('50 concurrent registrations over 3 app instances produce exactly one leader', async () => {
    const mesh = await startMesh({}, { apps: 3 });
    const apps = mesh.apps;
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => register(apps[i % 3]!, `c-${i}`)));
    const claimed = results.filter((r) => r.is_leader);
    expect(claimed).toHaveLength(1);
    const leader = (await leaderOf(mesh)).leader_id;
    expect(results.every((r) => r.leader_id === leader)).toBe(true);
    expect(results.every((r) => r.leader_term === results[0]!.leader_term)).toBe(true);
    expect(results[0]!.leader_term).toBe(await firstTerm(mesh));
    for (const app of apps) {
      const list = (await app.inject({ url: '/registry/agents' })).json<AgentsResponse>();
      expect(list.instances).toHaveLength(50);
      expect(list.instances.filter((i) => i.is_leader).map((i) => i.instance_id)).toEqual([leader]);
    }
  });

  it('is_leader and leader_id never disagree, even when the listing itself elects', async () => {
    const mesh = await startMesh({ STALE_TIMEOUT_MS: 300, HEARTBEAT_INTERVAL_MS: 50 });
    const app = mesh.apps[0]!;
    await register(app, 'x1');
    const t1 = await firstTerm(mesh);
    await register(app, 'x2');
    await sleep(150);
    await heartbeat(app, 'x2');
    await sleep(200); // x1 has lapsed, x2 is live; nobody ran an election yet
    const list = (await app.inject({ url: '/registry/agents' })).json<AgentsResponse>();
    expect(list.leader_id).toBe('x2');
    expect(list.leader_term).toBe(t1 + 1);
    expect(list.instances.map((i) => [i.instance_id, i.is_leader])).toEqual([['x2', true]]);
  });
});

describe('liveness', () => {
  it('lapsed instances vanish from every read before cleanup runs, and heartbeats get 404', async () => {
    const mesh = await startMesh({ STALE_TIMEOUT_MS: 300, HEARTBEAT_INTERVAL_MS: 50 });
    const app = mesh.apps[0]!;
    await register(app, 'live', { capabilities: ['c'] });
    await register(app, 'lapsing', { capabilities: ['c'] });
    await eventually(
      async () => {
        await heartbeat(app, 'live');
        const list = (await app.inject({ url: '/registry/agents' })).json<AgentsResponse>();
        return list.instances.length === 1;
      },
      3000,
      50,
    );
    // Cleanup did not run (no maintenance in this app): the record is still in Redis.
    expect(await mesh.redis.exists(mesh.keys.inst('lapsing'))).toBe(1);
    expect((await app.inject({ url: '/registry/agents/lapsing' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/registry/agents?capability=c' })).json<AgentsResponse>().instances.map((i) => i.instance_id)).toEqual(
      ['live'],
    );
    expect((await heartbeat(app, 'lapsing')).statusCode).toBe(404);
    expect((await app.inject({ url: '/health' })).json<HealthResponse>().active_sessions).toBe(1);
    // Deregistering a lapsed id answers 404 (unknown) but still frees its record.
    expect((await app.inject({ method: 'DELETE', url: '/registry/deregister/lapsing' })).statusCode).toBe(404);
    expect(await mesh.redis.exists(mesh.keys.inst('lapsing'))).toBe(0);
  });
});
