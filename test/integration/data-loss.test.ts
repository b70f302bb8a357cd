// Redis losing a namespace's data (restart without persistence, FLUSHALL, a failover to an empty
// replica), issue 14: fencing terms never go back, every replica notices (log once, metric), and
// every route's answer afterwards is defined - the ones that act as a member say "register again".
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { buildApp, createLogger } from '../../src/app.js';
import { heartbeat, meshesClosedAfterAll, register, sleep, type TestMesh } from '../helpers/app.js';
import { valueOf, parseExposition } from '../helpers/prometheus.js';

const startMesh = meshesClosedAfterAll();

/** What a restart without persistence does to one namespace (other test files share this Redis). */
async function wipe(mesh: TestMesh): Promise<void> {
  const keys = await mesh.namespaceKeys();
  if (keys.length > 0) await mesh.redis.del(...keys);
}

const leaderOf = async (app: FastifyInstance) =>
  (await app.inject({ url: '/registry/leader' })).json<{ leader_id: string | null; leader_term: number }>();

describe('fencing terms across data loss', () => {
  it('the first term comes from Redis time, and the next leader after a wipe gets a term above every earlier one', async () => {
    const mesh = await startMesh();
    const app = mesh.apps[0]!;
    const first = await register(app, 'f-1');
    // Redis time in ms: above any term a previous life of this namespace could have handed out.
    const [seconds] = await mesh.redis.time();
    expect(first.leader_term).toBeGreaterThan(Number(seconds) * 1000 - 60_000);
    expect(first.leader_term).toBeLessThanOrEqual(Number(seconds) * 1000 + 1000);
    expect(Number.isSafeInteger(first.leader_term)).toBe(true);
    // Changes of leader step by one.
    await register(app, 'f-2');
    await register(app, 'f-3');
    await app.inject({ method: 'DELETE', url: '/registry/deregister/f-1' });
    await app.inject({ method: 'DELETE', url: '/registry/deregister/f-2' });
    const before = await leaderOf(app);
    expect(before).toEqual({ leader_id: 'f-3', leader_term: first.leader_term + 2 });
    await sleep(10);
    await wipe(mesh);
    // A deposed leader still holds `before.leader_term`; the new one must out-fence it.
    const after = await register(app, 'f-4');
    expect(after.is_leader).toBe(true);
    expect(after.leader_term).toBeGreaterThan(before.leader_term);
  });
});

describe('after Redis lost the namespace', () => {
  it('a replica notices once (warn log, metric) and every route answers as documented', async () => {
    const mesh = await startMesh({ AUTH_MODE: 'none', STALE_TIMEOUT_MS: 600_000, HEARTBEAT_INTERVAL_MS: 1000 });
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const config = { ...mesh.config, LOG_LEVEL: 'warn' as const };
    const app = await buildApp(config, { logger: createLogger(config, sink), maintenance: false });
    try {
      await register(app, 'w-1');
      await register(app, 'w-2');
      const watch = (await app.inject({ url: '/registry/events?format=json&since=0' })).json<{ last_id: string }>();
      await app.inject({
        method: 'POST',
        url: '/messages/send/w-1',
        payload: { target_instance: 'w-2', message_type: 'Query', payload: 1, correlation_id: null },
      });
      await wipe(mesh);

      // Acting as a member: "unknown, register again" in each route's own form.
      const hb = await heartbeat(app, 'w-1');
      expect(hb.statusCode).toBe(404);
      expect(hb.json()).toMatchObject({ acknowledged: false, leader_id: null });
      const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
        app.inject({ method, url, ...(payload ? { payload } : {}) });
      expect((await inject('GET', '/messages/w-2')).json()).toMatchObject({ code: 'instance_not_found' });
      expect((await inject('GET', '/messages/w-2?wait=1')).statusCode).toBe(404);
      expect((await inject('GET', '/messages/w-2/stream')).statusCode).toBe(404);
      const send = await inject('POST', '/messages/send/w-1', {
        target_instance: 'w-2',
        message_type: 'Query',
        payload: 1,
        correlation_id: null,
      });
      expect(send.statusCode).toBe(404);
      expect(send.json()).toMatchObject({ code: 'source_not_found' });
      expect((await inject('DELETE', '/registry/deregister/w-1')).json()).toMatchObject({ code: 'instance_not_found' });
      // Acks of messages that no longer exist acknowledge nothing (idempotent, no error).
      expect((await inject('POST', '/messages/ack/w-2', { message_ids: ['gone'] })).statusCode).toBe(204);
      // Reads: an empty mesh, no leader; the term is unknown until the next election.
      expect((await inject('GET', '/registry/agents')).json()).toMatchObject({ instances: [], leader_id: null, next_cursor: null });
      expect((await inject('GET', '/registry/agents/w-1')).statusCode).toBe(404);
      // A watcher resuming from before the loss is told it missed changes.
      const resumed = (await inject('GET', `/registry/events?format=json&since=${watch.last_id}`)).json<{ gap: boolean }>();
      expect(resumed.gap).toBe(true);

      // The heartbeat reply already told this replica: one warning, counted.
      const warnings = () => lines.filter((l) => l.includes("Redis lost this namespace's data"));
      expect(warnings()).toHaveLength(1);
      // Registering again starts new members (new epoch); no second warning for the same loss.
      expect((await register(app, 'w-1')).is_leader).toBe(true);
      await register(app, 'w-2');
      expect(warnings()).toHaveLength(1);
      const metrics = parseExposition((await app.inject({ url: '/metrics' })).body);
      expect(valueOf(metrics, 'mesh_redis_data_loss_total')).toBe(1);
      // And a watcher of the new life resumes without a gap.
      const fresh = (await inject('GET', '/registry/events?format=json&since=0')).json<{ last_id: string }>();
      expect((await inject('GET', `/registry/events?format=json&since=${fresh.last_id}`)).json<{ gap: boolean }>().gap).toBe(false);
    } finally {
      await app.close();
    }
  });
});
