// MeshAgent against a real in-process server: registration that survives stale timeouts and lost
// state, leadership with fencing, at-least-once handling (ack after success), request/response.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  MeshAgent,
  MeshApiError,
  MeshClient,
  MeshClosedError,
  MeshHandlerError,
  MeshTimeoutError,
  type AgentMessage,
  type LeaderChange,
  type MeshEvent,
} from '../../sdk/src/index.js';
import { AgentPool, deferred, eventually, sleep, startServer, type TestServer } from './support.js';

/** The URL a fetch call asks for, whichever form it was given in. */
const urlOf = (input: string | URL | Request): string =>
  typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;

// Fast liveness: an instance is stale 600 ms after its last heartbeat; agents beat every 150 ms.
const FAST = { STALE_TIMEOUT_MS: 600, HEARTBEAT_INTERVAL_MS: 150 };

let server: TestServer;
let admin: MeshClient;
const pool = new AgentPool(() => ({ url: server.url, heartbeatIntervalMs: 150 }));

beforeAll(async () => {
  server = await startServer(FAST);
  admin = new MeshClient({ url: server.url });
});
afterEach(async () => {
  await pool.closeAll();
});
afterAll(async () => {
  await server.close();
});

function record<T>(agent: MeshAgent, event: 'leader' | 'lost-leadership' | 'leader-changed' | 'reregistered' | 'error' | 'unhandled'): T[] {
  const seen: T[] = [];
  agent.on(event as 'error', (v: unknown) => seen.push(v as T));
  return seen;
}

async function wipeNamespace(): Promise<void> {
  const keys = await server.mesh.namespaceKeys();
  if (keys.length > 0) await server.mesh.redis.del(...keys);
}

describe('join and heartbeat', () => {
  it('registers with a <hostname>-<uuid> id, capabilities and profiles, and deregisters on close', async () => {
    const agent = await pool.join({ hostname: 'worker.local', port: 4100, capabilities: ['summarize'], agentProfiles: ['default'] });
    expect(agent.id).toMatch(/^worker\.local-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const inst = await admin.getAgent(agent.id);
    expect(inst).toMatchObject({ hostname: 'worker.local', port: 4100, capabilities: ['summarize'], agent_profiles: ['default'] });
    expect(agent.leaderTerm).toBeGreaterThanOrEqual(0);
    expect(agent.leaderId).not.toBeNull();

    await agent.close();
    await agent.close(); // idempotent
    await expect(admin.getAgent(agent.id)).rejects.toMatchObject({ code: 'instance_not_found' });
    await expect(agent.send(null, 'Notification', null)).rejects.toBeInstanceOf(MeshClosedError);
  });

  it('keeps its registration alive across several stale timeouts and reports status', async () => {
    let beats = 0;
    const agent = await pool.join({
      instanceId: 'keepalive-1',
      status: () => ({ status: 'busy', metrics: { beats: ++beats } }),
    });
    const reregistered = record(agent, 'reregistered');
    const created = (await admin.getAgent(agent.id)).created_at;
    // 2.4 s = 4 stale timeouts: without heartbeats the registry would have dropped it 4 times over.
    const until = Date.now() + 4 * FAST.STALE_TIMEOUT_MS;
    while (Date.now() < until) {
      const inst = await admin.getAgent(agent.id);
      expect(inst.created_at).toBe(created);
      await sleep(100);
    }
    const inst = await admin.getAgent(agent.id);
    expect(inst.status).toBe('busy');
    expect(Number(inst.metrics?.beats)).toBeGreaterThanOrEqual(8);
    expect(reregistered).toEqual([]);
  });

  it('re-registers by itself when Redis lost all of the mesh state', async () => {
    const a = await pool.join({ instanceId: 'wipe-a' });
    const b = await pool.join({ instanceId: 'wipe-b' });
    await a.close(); // b becomes leader with a higher term
    await eventually(async () => b.isLeader);
    const termBefore = b.leaderTerm;
    expect(termBefore).toBeGreaterThanOrEqual(2);
    const reregistered = record<{ id: string; term: number }>(b, 'reregistered');

    await wipeNamespace();
    await eventually(async () => reregistered.length > 0);
    expect(reregistered[0]).toMatchObject({ id: 'wipe-b' });
    // The new term starts from Redis' clock: above the one before the loss, never back to 1.
    await eventually(async () => b.isLeader && b.leaderTerm > termBefore);
    expect((await admin.getAgent('wipe-b')).is_leader).toBe(true);
    expect((await admin.leader()).leader_term).toBe(b.leaderTerm);
  });

  // The instance record vanished without the registry's own purge (e.g. evicted by Redis'
  // maxmemory policy): the heartbeat gets 404 and the agent registers again.
  it('re-registers after its instance keys were deleted from Redis (inst + deadlines)', async () => {
    const agent = await pool.join({ instanceId: 'evicted-1' });
    const reregistered = record(agent, 'reregistered');
    const { keys, redis } = server.mesh;
    await redis.del(keys.inst('evicted-1'));
    await redis.zrem(keys.deadlines, 'evicted-1');
    await eventually(async () => reregistered.length > 0, 4000);
    await eventually(async () => (await admin.getAgent('evicted-1')).instance_id === 'evicted-1');
  });

  it('re-registers after the registry evicted it (AUTH_MODE=instance: revoked token -> register again)', async () => {
    const secured = await startServer({ ...FAST, AUTH_MODE: 'instance', ADMIN_TOKENS: 'root' });
    const local = new AgentPool(() => ({ url: secured.url, heartbeatIntervalMs: 150 }));
    try {
      const a = await local.join({ instanceId: 'tok-a' });
      const b = await local.join({ instanceId: 'tok-b', capabilities: ['echo'] });
      b.on('Query', async (m, ctx) => {
        await ctx.respond({ echo: m.payload });
      });
      expect((await a.request('tok-b', 'hi', { timeoutMs: 5000 })).payload).toEqual({ echo: 'hi' });

      const reregistered = record(b, 'reregistered');
      const root = new MeshClient({ url: secured.url, token: 'root' });
      expect(await root.deregister('tok-b')).toBe(true);
      await eventually(async () => reregistered.length > 0);
      await eventually(async () => (await root.getAgent('tok-b')).instance_id === 'tok-b');
      // The new registration came with a new token, and messaging works with it.
      expect((await a.request({ capability: 'echo' }, 'again', { timeoutMs: 5000 })).payload).toEqual({ echo: 'again' });
    } finally {
      await local.closeAll();
      await secured.close();
    }
  });
});

describe('leadership', () => {
  it('hands leadership over with increasing terms as leaders close', async () => {
    const a = await pool.join({ instanceId: 'lead-a' });
    const b = await pool.join({ instanceId: 'lead-b' });
    const c = await pool.join({ instanceId: 'lead-c' });
    expect(a.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);
    expect(b.leaderId).toBe('lead-a');
    const t1 = a.leaderTerm;
    const aLost = record<LeaderChange>(a, 'lost-leadership');
    const bLeader = record<LeaderChange>(b, 'leader');
    const cLeader = record<LeaderChange>(c, 'leader');
    const cChanges = record<LeaderChange>(c, 'leader-changed');

    await a.close();
    expect(aLost).toHaveLength(1);
    await eventually(async () => bLeader.length === 1);
    const t2 = bLeader[0]!.term;
    expect(t2).toBeGreaterThan(t1);
    expect(b.isLeader).toBe(true);
    expect(b.leaderTerm).toBe(t2);
    await eventually(async () => cChanges.length === 1);
    expect(cChanges[0]).toEqual({ leaderId: 'lead-b', term: t2 });

    await b.close();
    await eventually(async () => cLeader.length === 1);
    expect(cLeader[0]!.term).toBeGreaterThan(t2);
    expect(cChanges.map((ch) => ch.term)).toEqual([t2, cLeader[0]!.term]);
    expect(c.isLeader).toBe(true);
    expect((await admin.leader()).leader_id).toBe('lead-c');
  });

  it('learns of a new leader from the membership feed before its next heartbeat', async () => {
    // Default stale timeout (15 s): the second agent can heartbeat only every 10 s.
    const slow = await startServer();
    const local = new AgentPool(() => ({ url: slow.url }));
    try {
      const a = await local.join({ instanceId: 'feed-a', heartbeatIntervalMs: 1000 });
      const b = await local.join({ instanceId: 'feed-b', heartbeatIntervalMs: 10_000 });
      const membership: MeshEvent[] = [];
      b.on('membership', (ev) => membership.push(ev));
      // The feed starts "from now": wait until b's watcher is connected (it sees a join).
      const probe = new MeshClient({ url: slow.url });
      let n = 0;
      await eventually(
        async () => {
          const id = `feed-probe-${n++}`;
          await probe.register({ instance_id: id, hostname: 'probe.local', port: 1, capabilities: [], agent_profiles: [] });
          await sleep(100);
          await probe.deregister(id);
          return membership.some((e) => e.type === 'joined' && e.instance_id === id);
        },
        10_000,
        0,
      );
      const termBefore = b.leaderTerm;
      const became = record<LeaderChange>(b, 'leader');
      const t0 = Date.now();
      await a.close();
      await eventually(async () => became.length === 1, 5000);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(became[0]!.term).toBeGreaterThan(termBefore);
      expect(b.isLeader).toBe(true);
      expect(membership.some((e) => e.type === 'left' && e.instance_id === 'feed-a')).toBe(true);
    } finally {
      await local.closeAll();
      await slow.close();
    }
  });

  it('ignores leader information older than the highest term seen (fencing)', async () => {
    // A proxy fetch that replays a stale heartbeat answer (an old leader with a lower term).
    let stale: { leader_id: string; leader_term: number } | null = null;
    const staleFetch: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!stale || !urlOf(input).includes('/registry/heartbeat/')) return res;
      await res.text();
      return new Response(JSON.stringify({ acknowledged: true, should_sync: false, ...stale }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    };
    const x = await pool.join({ instanceId: 'fence-x' });
    const y = await pool.join({ instanceId: 'fence-y', client: { fetch: staleFetch } });
    const oldTerm = y.leaderTerm;
    await x.close();
    await eventually(async () => y.isLeader);
    const term = y.leaderTerm;
    expect(term).toBeGreaterThan(oldTerm);
    const changes = record(y, 'leader-changed');
    const lost = record(y, 'lost-leadership');

    stale = { leader_id: 'fence-x', leader_term: oldTerm };
    await sleep(600); // several heartbeats answered with the stale leader
    expect(y.isLeader).toBe(true);
    expect(y.leaderTerm).toBe(term);
    expect(y.leaderId).toBe('fence-y');
    expect(changes).toEqual([]);
    expect(lost).toEqual([]);
  });

  it('a leader whose heartbeats fail steps down locally after its lease', async () => {
    let cut = false;
    const flaky: typeof fetch = async (input, init) => {
      if (cut && urlOf(input).includes('/registry/heartbeat/')) throw new TypeError('fetch failed');
      return fetch(input, init);
    };
    const solo = await pool.join({ instanceId: 'lease-1', leaderLeaseMs: 400, client: { fetch: flaky, retries: 0 } });
    await eventually(async () => solo.isLeader);
    const lost = record<LeaderChange>(solo, 'lost-leadership');
    cut = true;
    await eventually(async () => lost.length === 1, 3000);
    expect(solo.isLeader).toBe(false);
    // Listening from here: the election inside join() is replayed to listeners attached right
    // after join(), which is not what this test is about.
    const regained = record<LeaderChange>(solo, 'leader');
    cut = false;
    // Heartbeats get through again (before the server's 600 ms stale timeout ended it, or after a re-register).
    await eventually(async () => regained.length === 1, 3000);
    expect(solo.isLeader).toBe(true);
  });
});

describe('message handling', () => {
  it('acks only after the handler resolved', async () => {
    const worker = await pool.join({ instanceId: 'ack-w' });
    const sender = await pool.join({ instanceId: 'ack-s' });
    const gate = deferred();
    const started = deferred<AgentMessage>();
    worker.on('Custom:job', async (m) => {
      started.resolve(m);
      await gate.promise;
    });
    const sent = await sender.send('ack-w', 'Custom:job', { n: 1 });
    const m = await started.promise;
    expect(m).toMatchObject({ message_id: sent.message_id, message_type: { Custom: 'job' }, payload: { n: 1 } });
    // Still pending on the server while the handler runs.
    await sleep(200);
    expect((await admin.fetchMessages('ack-w')).map((x) => x.message_id)).toEqual([sent.message_id]);
    gate.resolve();
    await eventually(async () => (await admin.fetchMessages('ack-w')).length === 0);
  });

  it('leaves a message un-acked when its handler throws and redelivers it with backoff', async () => {
    const worker = await pool.join({ instanceId: 'retry-w' });
    const sender = await pool.join({ instanceId: 'retry-s' });
    const errors = record<Error>(worker, 'error');
    const calls: { id: string; at: number }[] = [];
    worker.on('Notification', async (m) => {
      calls.push({ id: m.message_id, at: Date.now() });
      if (calls.length < 3) throw new Error(`fail #${calls.length}`);
    });
    const sent = await sender.send('retry-w', 'Notification', { important: true });
    await eventually(async () => calls.length === 3);
    await eventually(async () => (await admin.fetchMessages('retry-w')).length === 0);
    expect(calls.every((c) => c.id === sent.message_id)).toBe(true);
    // Not a hot loop: each retry waited (base 200 ms, at least half of it, doubling).
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(90);
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(190);
    const handlerErrors = errors.filter((e): e is MeshHandlerError => e instanceof MeshHandlerError);
    expect(handlerErrors.map((e) => e.attempt)).toEqual([1, 2]);
    expect(handlerErrors[0]).toMatchObject({ messageId: sent.message_id, messageType: 'Notification' });
    await sleep(300);
    expect(calls).toHaveLength(3); // acked: never delivered again
  });

  it('a handler that keeps failing is retried slowly, not in a hot loop', async () => {
    const worker = await pool.join({ instanceId: 'hot-w' });
    const sender = await pool.join({ instanceId: 'hot-s' });
    worker.on('error', () => undefined);
    let calls = 0;
    worker.on('Notification', () => {
      calls++;
      throw new Error('always');
    });
    await sender.send('hot-w', 'Notification', null);
    await eventually(async () => calls >= 1);
    await sleep(1200);
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(calls).toBeLessThanOrEqual(7);
  });

  it('routes by type, falls back to onMessage, and acks (and reports) what nobody handles', async () => {
    const worker = await pool.join({ instanceId: 'route-w' });
    const sender = await pool.join({ instanceId: 'route-s' });
    const seen: string[] = [];
    const unhandled = record<AgentMessage>(worker, 'unhandled');
    worker.on('Custom:a', (m) => void seen.push(`a:${JSON.stringify(m.payload)}`));
    worker.onMessage((m) => void seen.push(`any:${JSON.stringify(m.payload)}`));
    await sender.send('route-w', 'Custom:a', 1);
    await sender.send('route-w', { Custom: 'b' }, 2);
    await sender.broadcast('GraphSync', 3);
    await eventually(async () => seen.length === 3);
    expect(seen.sort()).toEqual(['a:1', 'any:2', 'any:3']);

    const bare = await pool.join({ instanceId: 'route-bare' });
    bare.on('Custom:only-this', () => undefined);
    const bareUnhandled = record<AgentMessage>(bare, 'unhandled');
    await sender.send('route-bare', 'TaskDelegation', { t: 1 });
    await eventually(async () => bareUnhandled.length === 1);
    await eventually(async () => (await admin.fetchMessages('route-bare')).length === 0);
    expect(unhandled).toEqual([]);
  });

  it('sendToCapability and broadcast reach the right agents', async () => {
    const s = await pool.join({ instanceId: 'cap-s' });
    const w1 = await pool.join({ instanceId: 'cap-w1', capabilities: ['translate'] });
    const other = await pool.join({ instanceId: 'cap-o' });
    const got: string[] = [];
    w1.onMessage((m) => void got.push(`w1:${JSON.stringify(m.payload)}`));
    other.onMessage((m) => void got.push(`o:${JSON.stringify(m.payload)}`));
    s.onMessage((m) => void got.push(`s:${JSON.stringify(m.payload)}`));
    const routed = await s.sendToCapability('translate', 'TaskDelegation', 'cap');
    expect(routed.delivered_to).toEqual(['cap-w1']);
    const b = await s.broadcast('Notification', 'all');
    expect(b.delivered_to.sort()).toEqual(['cap-o', 'cap-w1']);
    await eventually(async () => got.length === 3);
    expect(got.sort()).toEqual(['o:"all"', 'w1:"all"', 'w1:"cap"']);
  });

  it('an idempotencyKey given to send, broadcast or sendToCapability makes a second call a retry of the first', async () => {
    const s = await pool.join({ instanceId: 'idem-s' });
    const w = await pool.join({ instanceId: 'idem-w', capabilities: ['store'] });
    const got: string[] = [];
    w.onMessage((m) => void got.push(JSON.stringify(m.payload)));
    const a1 = await s.send('idem-w', 'Notification', 'direct', { idempotencyKey: 'k-direct' });
    const a2 = await s.send('idem-w', 'Notification', 'direct', { idempotencyKey: 'k-direct' });
    expect(a2).toEqual(a1);
    const b1 = await s.broadcast('Notification', 'all', { idempotencyKey: 'k-all' });
    expect((await s.broadcast('Notification', 'all', { idempotencyKey: 'k-all' })).message_id).toBe(b1.message_id);
    const c1 = await s.sendToCapability('store', 'Notification', 'cap', { idempotencyKey: 'k-cap' });
    expect(await s.sendToCapability('store', 'Notification', 'cap', { idempotencyKey: 'k-cap' })).toEqual(c1);
    // Without a key of one's own, each call is its own message.
    const n1 = await s.send('idem-w', 'Notification', 'fresh');
    const n2 = await s.send('idem-w', 'Notification', 'fresh');
    expect(n2.message_id).not.toBe(n1.message_id);
    await eventually(async () => got.length >= 5);
    await sleep(200);
    expect(got.sort()).toEqual(['"all"', '"cap"', '"direct"', '"fresh"', '"fresh"']);
    await expect(s.send('idem-w', 'Notification', 'other', { idempotencyKey: 'k-direct' })).rejects.toMatchObject({
      status: 422,
      code: 'idempotency_key_mismatch',
    });
  });
});

describe('request/response', () => {
  it('round trip by capability and by id, with the correlation id preserved and the Response acked', async () => {
    const worker = await pool.join({ instanceId: 'rr-w', capabilities: ['summarize'] });
    const requester = await pool.join({ instanceId: 'rr-r' });
    const queries: AgentMessage[] = [];
    worker.on('Query', async (m, ctx) => {
      queries.push(m);
      const text = (m.payload as { text: string }).text;
      await ctx.respond({ summary: text.split(' ')[0] ?? '' });
    });
    const byCap = await requester.request({ capability: 'summarize' }, { text: 'alpha beta gamma' }, { timeoutMs: 5000 });
    expect(byCap).toMatchObject({
      message_type: 'Response',
      source_instance: 'rr-w',
      target_instance: 'rr-r',
      payload: { summary: 'alpha' },
    });
    expect(byCap.correlation_id).toBe(queries[0]!.correlation_id);
    const byId = await requester.request('rr-w', { text: 'delta epsilon' });
    expect(byId.payload).toEqual({ summary: 'delta' });
    expect(byId.correlation_id).not.toBe(byCap.correlation_id);
    await eventually(async () => (await admin.fetchMessages('rr-r')).length === 0);
  });

  it('concurrent requests each get their own answer; a handler can itself make requests', async () => {
    const leaf = await pool.join({ instanceId: 'nest-leaf' });
    const middle = await pool.join({ instanceId: 'nest-mid', concurrency: 1 });
    const client = await pool.join({ instanceId: 'nest-client' });
    leaf.on('Query', async (m, ctx) => {
      await ctx.respond((m.payload as number) * 10);
    });
    middle.on('Query', async (m, ctx) => {
      // With concurrency 1 this only works because Responses bypass the handler queue.
      const inner = await ctx.agent.request('nest-leaf', m.payload, { timeoutMs: 5000 });
      await ctx.respond((inner.payload as number) + 1);
    });
    const answers = await Promise.all([1, 2, 3, 4].map((n) => client.request('nest-mid', n, { timeoutMs: 10_000 })));
    expect(answers.map((a) => a.payload)).toEqual([11, 21, 31, 41]);
  });

  it('times out when nobody answers, and fails fast for an unknown target', async () => {
    const silent = await pool.join({ instanceId: 'rr-silent' });
    silent.on('Query', () => undefined); // acks without answering
    const requester = await pool.join({ instanceId: 'rr-req2' });
    const t0 = Date.now();
    const err = await requester.request('rr-silent', null, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeshTimeoutError);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    await expect(requester.request('rr-nobody', null)).rejects.toMatchObject({ status: 400, code: 'target_not_found' });
    await expect(requester.request({ capability: 'nope' }, null)).rejects.toBeInstanceOf(MeshApiError);
  });

  it('close() lets a running handler finish and respond before deregistering', async () => {
    const worker = await pool.join({ instanceId: 'drain-w' });
    const requester = await pool.join({ instanceId: 'drain-r' });
    const gate = deferred();
    const started = deferred();
    worker.on('Query', async (m, ctx) => {
      started.resolve();
      await gate.promise;
      await ctx.respond({ late: m.payload });
    });
    const answer = requester.request('drain-w', 'x', { timeoutMs: 10_000 });
    await started.promise;
    const closing = worker.close();
    await sleep(50);
    gate.resolve();
    await closing;
    expect((await answer).payload).toEqual({ late: 'x' });
    await expect(admin.getAgent('drain-w')).rejects.toMatchObject({ code: 'instance_not_found' });
    await expect(worker.send('drain-r', 'Notification', null)).rejects.toBeInstanceOf(MeshClosedError);
  });

  it('close() rejects pending requests with MeshClosedError', async () => {
    const silent = await pool.join({ instanceId: 'rr-silent2' });
    silent.on('Query', () => undefined);
    const requester = await pool.join({ instanceId: 'rr-closing' });
    const outcome = requester.request('rr-silent2', null, { timeoutMs: 10_000 }).catch((e: unknown) => e);
    await sleep(100);
    await requester.close();
    expect(await outcome).toBeInstanceOf(MeshClosedError);
  });
});
