// REDIS_SYNC_REPLICAS (issue 14, item 3): writes the API acknowledges - register, send, ack,
// deregister - are answered only once the replicas have them (Redis WAIT, group-committed on a
// connection of their own); otherwise 503 not_replicated + Retry-After. Heartbeats and reads do
// not wait behind it. Each case runs on its own master + replica (redis-server processes), so
// replicas can be frozen without touching the run's shared Redis.
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, createLogger } from '../../src/app.js';
import { configFrom } from '../../src/config.js';
import { meshKeys } from '../../src/redis/keys.js';
import { eventually, heartbeat, register, registerBody } from '../helpers/app.js';
import { asHttpAnswer, rejectionOf } from '../helpers/domain-errors.js';
import { expectError, fetchMessages, sendBody } from '../helpers/messages.js';
import { uniqueNamespace } from '../helpers/ns.js';
import { addClusterReplica, startPrimaryReplica, type ClusterReplica, type PrimaryReplica } from '../helpers/replication.js';
import { startCluster, type ClusterTopology } from '../helpers/topology.js';

const apps: FastifyInstance[] = [];
afterAll(async () => {
  await Promise.allSettled(apps.map((a) => a.close()));
}, 60_000);

/** Log lines of an app built with `logTo` (JSON objects). */
type LogLines = { level: number; msg: string; [k: string]: unknown }[];

async function app(env: Record<string, string | number>, namespace: string, logTo?: LogLines): Promise<FastifyInstance> {
  const config = configFrom({ LOG_LEVEL: 'silent', MESH_NAMESPACE: namespace, ...env });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) logTo?.push(JSON.parse(l) as LogLines[number]);
      done();
    },
  });
  const logger = logTo ? { logger: createLogger({ ...config, LOG_LEVEL: 'info' }, sink) } : {};
  const a = await buildApp(config, { maintenance: false, ...logger });
  await a.ready();
  apps.push(a);
  return a;
}

function sendReq(a: FastifyInstance, from: string, to: string | null, payload: unknown, key?: string) {
  return a.inject({
    method: 'POST',
    url: `/messages/send/${from}`,
    headers: key ? { 'idempotency-key': key } : {},
    payload: sendBody(to, payload) as object,
  });
}

/** Sync timeouts generous enough for a busy machine, with room to tell "waited" from "did not". */
const SYNC_TIMEOUT_MS = 2000;
const COMMAND_TIMEOUT_MS = 6000;

describe('REDIS_SYNC_REPLICAS=1 on a master with one replica', () => {
  let pr: PrimaryReplica;
  let synced: FastifyInstance;
  let plain: FastifyInstance;
  let ns: string;
  beforeAll(async () => {
    pr = await startPrimaryReplica();
    ns = uniqueNamespace('sync');
    const env = { REDIS_URL: pr.master.url, REDIS_SYNC_TIMEOUT_MS: SYNC_TIMEOUT_MS, REDIS_COMMAND_TIMEOUT_MS: COMMAND_TIMEOUT_MS };
    const lines: LogLines = [];
    synced = await app({ ...env, REDIS_SYNC_REPLICAS: 1 }, ns, lines);
    plain = await app(env, ns);
    await eventually(async () => lines.some((l) => l.level === 30 && /REDIS_SYNC_REPLICAS: the replicas confirm writes/.test(l.msg)), 5000);
  }, 60_000);
  afterAll(async () => {
    await pr?.replica.resume();
    await pr?.stop();
  }, 60_000);

  it('answers writes once the replica has them; many writes in one turn share a few barriers', async () => {
    for (const id of ['s-a', 's-b']) await register(synced, id);
    const sync = synced.mesh.sync!;
    expect(sync).not.toBeNull();
    const before = { ...sync.counters };
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => sendReq(synced, 's-a', 's-b', { n: i })));
    expect(answers.map((r) => r.statusCode)).toEqual(answers.map(() => 200));
    // What was answered is on the replica (read it there, not on the master).
    const k = meshKeys(ns);
    expect(await pr.replicaClient.xlen(k.inbox('s-b'))).toBe(40);
    const confirmed = sync.counters.confirmed - before.confirmed;
    const barriers = sync.counters.barriers - before.barriers;
    expect(confirmed).toBe(40);
    // Group commit: one WAIT per event-loop turn, not one per write.
    expect(barriers).toBeGreaterThanOrEqual(1);
    expect(barriers).toBeLessThanOrEqual(confirmed / 2);
    const ids = (await fetchMessages(synced, 's-b')).map((m) => m.message_id);
    const acked = await synced.inject({ method: 'POST', url: '/messages/ack/s-b', payload: { message_ids: ids } });
    expect(acked.statusCode).toBe(204);
    expect(await pr.replicaClient.xlen(k.inbox('s-b'))).toBe(0);
  });

  it('with the replica frozen: writes are 503 not_replicated + Retry-After after the sync timeout; heartbeats and reads are not held up', async () => {
    await register(synced, 'f-a');
    await register(synced, 'f-b');
    await pr.replica.pause();
    try {
      const started = Date.now();
      const pending = sendReq(synced, 'f-a', 'f-b', { k: 'frozen' });
      // While that send's WAIT blocks its connection, the replica's other work goes on.
      const hbStarted = Date.now();
      expect((await heartbeat(synced, 'f-a')).statusCode).toBe(200);
      expect((await synced.inject({ url: '/registry/agents' })).statusCode).toBe(200);
      expect((await synced.inject({ url: '/messages/f-b' })).statusCode).toBe(200);
      expect(Date.now() - hbStarted).toBeLessThan(SYNC_TIMEOUT_MS / 2);
      const res = await pending;
      const body = expectError(res, 503, 'not_replicated');
      expect(res.headers['retry-after']).toBe('1');
      expect(body).toMatchObject({ replicas_required: 1, replicas_acked: 0 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(SYNC_TIMEOUT_MS - 50);

      // Every acknowledged write kind waits: register, ack, deregister.
      const [reg, ack, dereg] = await Promise.all([
        synced.inject({ method: 'POST', url: '/registry/register', payload: registerBody('f-c') }),
        synced.inject({ method: 'POST', url: '/messages/ack/f-b', payload: { message_ids: ['nothing'] } }),
        synced.inject({ method: 'DELETE', url: '/registry/deregister/f-a' }),
      ]);
      for (const r of [reg, ack, dereg]) expectError(r, 503, 'not_replicated');
      // The same writes without the option are answered at once.
      expect((await sendReq(plain, 'f-b', 'f-c', { k: 'plain' })).statusCode).toBe(200);
      const metrics = await synced.inject({ url: '/metrics' });
      expect(metrics.body).toMatch(/mesh_redis_sync_writes_total\{result="not_replicated"\} [1-9]/);
    } finally {
      await pr.replica.resume();
    }
    // The replica catches up: writes are confirmed again.
    await eventually(async () => (await sendReq(synced, 'f-b', 'f-c', { k: 'after' })).statusCode === 200, 15_000, 200);
  });

  it('a send refused as not_replicated is applied on the master: its retry with the same key is that message, confirmed', async () => {
    await register(synced, 'i-a');
    await register(synced, 'i-b');
    await pr.replica.pause();
    let first;
    try {
      first = await sendReq(synced, 'i-a', 'i-b', { k: 'ambiguous' }, 'retry-key-1');
      expectError(first, 503, 'not_replicated');
    } finally {
      await pr.replica.resume();
    }
    const retried = await eventually(
      async () => {
        const r = await sendReq(synced, 'i-a', 'i-b', { k: 'ambiguous' }, 'retry-key-1');
        return r.statusCode === 200 ? r : null;
      },
      15_000,
      200,
    );
    expect(retried.headers['idempotent-replayed']).toBe('true');
    const msgs = await fetchMessages(synced, 'i-b');
    expect(msgs).toHaveLength(1);
    expect(retried.json<{ message_id: string }>().message_id).toBe(msgs[0]!.message_id);
    // The replayed answer was confirmed: the message and its record are on the replica.
    const k = meshKeys(ns);
    expect(await pr.replicaClient.xlen(k.inbox('i-b'))).toBe(1);
    expect(await pr.replicaClient.exists(`${k.prefix}idem:i-a/retry-key-1`)).toBe(1);
  });

  it('a connection change between a write and its barrier voids the confirmation', async () => {
    const sync = synced.mesh.sync!;
    const since = sync.epoch;
    // Kill the writes connection (a reconnect, as after a Sentinel switch): ioredis reconnects.
    await pr.masterClient.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await eventually(async () => sync.epoch > since, 5000);
    const err = await rejectionOf(sync.confirm(since));
    expect(asHttpAnswer(err)).toMatchObject({ statusCode: 503, code: 'not_replicated' });
    // A write after the reconnect is confirmed as usual.
    await eventually(async () => (await register(synced, 'after-kill')).leader_term >= 0, 10_000, 100);
  });

  it('acks are still confirmed while Redis is full (the barrier runs with allow-oom)', async () => {
    await register(synced, 'o-a');
    await register(synced, 'o-b');
    const sent = await sendReq(synced, 'o-a', 'o-b', { k: 'before-full' });
    expect(sent.statusCode).toBe(200);
    await pr.masterClient.config('SET', 'maxmemory', '1');
    try {
      expectError(await sendReq(synced, 'o-a', 'o-b', { k: 'full' }), 507, 'insufficient_storage');
      const ids = [sent.json<{ message_id: string }>().message_id];
      const acked = await synced.inject({ method: 'POST', url: '/messages/ack/o-b', payload: { message_ids: ids } });
      expect(acked.statusCode, acked.body).toBe(204);
    } finally {
      await pr.masterClient.config('SET', 'maxmemory', '0');
    }
  });
});

describe('REDIS_SYNC_REPLICAS above the replicas there are', () => {
  it('answers every acknowledged write 503 not_replicated, heartbeats 200', async () => {
    const pr = await startPrimaryReplica();
    try {
      const ns = uniqueNamespace('sync2');
      const env = { REDIS_URL: pr.master.url, REDIS_SYNC_TIMEOUT_MS: 300, REDIS_COMMAND_TIMEOUT_MS: COMMAND_TIMEOUT_MS };
      const lines: LogLines = [];
      const two = await app({ ...env, REDIS_SYNC_REPLICAS: 2 }, ns, lines);
      const plain = await app(env, ns);
      // Said at startup: the replicas do not confirm (the option is above what there is).
      const warning = await eventually(
        async () => lines.find((l) => /REDIS_SYNC_REPLICAS: the replicas did not confirm/.test(l.msg)),
        5000,
      );
      expect(warning).toMatchObject({ level: 40, replicas: 2, timeoutMs: 300 });
      const reg = await two.inject({ method: 'POST', url: '/registry/register', payload: registerBody('t-a') });
      const body = expectError(reg, 503, 'not_replicated');
      expect(body).toMatchObject({ replicas_required: 2, replicas_acked: 1 });
      // The registration exists on the master all the same: it heartbeats fine.
      expect((await heartbeat(two, 't-a')).statusCode).toBe(200);
      await register(plain, 't-b');
      expectError(await sendReq(two, 't-a', 't-b', null), 503, 'not_replicated');
    } finally {
      await pr.stop();
    }
  }, 60_000);
});

describe('Cluster: the WAIT reaches the master owning the namespace', () => {
  let cluster: ClusterTopology | undefined;
  let replica: ClusterReplica | undefined;
  let clusterApp: FastifyInstance | undefined;
  afterAll(async () => {
    // The app first: its clients would otherwise keep reconnecting to stopped nodes.
    await clusterApp?.close();
    await replica?.stop();
    await cluster?.stop();
  }, 60_000);

  it('confirms writes on the shard with a replica (a WAIT on another master would find none)', async () => {
    cluster = await startCluster();
    const ns = uniqueNamespace('syncc');
    // Only the master holding this namespace's slot gets a replica; the other two have none.
    replica = await addClusterReplica(cluster, meshKeys(ns).syncMark);
    const a = await app(
      { ...cluster.env, REDIS_SYNC_REPLICAS: 1, REDIS_SYNC_TIMEOUT_MS: 500, REDIS_COMMAND_TIMEOUT_MS: COMMAND_TIMEOUT_MS },
      ns,
    );
    clusterApp = a;
    // The startup test barrier runs on its own (not awaited by buildApp); the new replica may still
    // be catching up with its master then, on a busy machine past the 500 ms timeout. What this
    // test asserts is the writes' barriers, so it counts from after that one settled.
    const counters = a.mesh.sync!.counters;
    await eventually(async () => counters.confirmed + counters.notReplicated + counters.failed >= 1, 15_000);
    const before = { ...counters };
    await register(a, 'c-a');
    await register(a, 'c-b');
    for (let i = 0; i < 12; i++) {
      const r = await sendReq(a, 'c-a', i % 2 ? 'c-b' : null, { i });
      expect(r.statusCode, r.body).toBe(200);
    }
    const ack = await a.inject({ method: 'POST', url: '/messages/ack/c-b', payload: { message_ids: ['x'] } });
    expect(ack.statusCode).toBe(204);
    // 2 registers, 12 sends, 1 ack: every one confirmed by the shard's replica, none refused.
    expect(counters.notReplicated - before.notReplicated).toBe(0);
    expect(counters.failed - before.failed).toBe(0);
    expect(counters.confirmed - before.confirmed).toBe(15);
  }, 90_000);
});
