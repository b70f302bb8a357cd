// Fault: Redis runs out of memory (maxmemory reached, maxmemory-policy noeviction) while agents
// send. Proves (issue 14 item 4):
//   - writes that would grow Redis are refused with a clear 507 `insufficient_storage` + Retry-After,
//     never a 500, and a refused write is really refused: not queued, not registered, no key touched;
//   - what keeps the mesh alive still works when full: heartbeats (agents do not lapse), listing,
//     fetch and ack (how consumers free memory), /readyz stays 200 (draining every replica would
//     turn "writes refused" into "nothing works");
//   - nothing acknowledged is lost: every send answered 200 is fetched afterwards;
//   - it recovers by itself when memory frees: once the mailbox acks its backlog, sends and
//     registrations succeed again and the maintenance worker keeps ticking.
// Uses its own redis-server (maxmemory is lowered at run time: never on the run's shared Redis).
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { buildApp, createLogger } from '../../src/app.js';
import { configFrom } from '../../src/config.js';
import { meshKeys } from '../../src/redis/keys.js';
import { eventually, register, registerBody, sleep } from '../helpers/app.js';
import { ackRaw, expectError, fetchRaw, sendBody, sendRaw, type AgentMessage } from '../helpers/messages.js';
import { uniqueNamespace } from '../helpers/ns.js';
import { startRedisProcess, type RedisProcessHandle } from '../helpers/redis.js';

/** 48 KiB of payload per message: a few MiB of headroom fill in ~100 sends. */
const CHUNK = 'x'.repeat(48 * 1024);
const HEADROOM_BYTES = 4 * 1024 * 1024;
const MAX_FILL_SENDS = 400;

let redis: RedisProcessHandle | undefined;
let admin: Redis | undefined;
const apps: FastifyInstance[] = [];
afterAll(async () => {
  await Promise.allSettled(apps.map((a) => a.close()));
  admin?.disconnect();
  await redis?.stop();
}, 60_000);

async function usedMemory(r: Redis): Promise<number> {
  const info = await r.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
}

/** Every key of the namespace except BullMQ's, with its serialized value (DUMP): a refused script must change none. */
async function snapshot(r: Redis, prefix: string): Promise<Map<string, string>> {
  const keys = (await r.keys(`${prefix}*`)).filter((k) => !k.startsWith(`${prefix}bull`)).sort();
  const out = new Map<string, string>();
  for (const k of keys) out.set(k, ((await r.dumpBuffer(k)) ?? Buffer.alloc(0)).toString('base64'));
  return out;
}

describe('fault: Redis full (maxmemory + noeviction)', () => {
  it('refuses growing writes with 507, keeps agents alive and consumers draining, loses nothing acknowledged, recovers when memory frees', async () => {
    redis = await startRedisProcess();
    admin = new Redis(redis.url);
    const a = admin;
    const namespace = uniqueNamespace('full');
    const keys = meshKeys(namespace);
    const config = configFrom({
      REDIS_URL: redis.url,
      MESH_NAMESPACE: namespace,
      LOG_LEVEL: 'silent',
      // Nobody lapses while the test runs, however slow the machine.
      HEARTBEAT_INTERVAL_MS: 1000,
      STALE_TIMEOUT_MS: 120_000,
      CLEANUP_INTERVAL_MS: 500,
    });
    // Two replicas; the first runs the maintenance worker (BullMQ must survive a full Redis too).
    // The maintenance replica's warnings are kept: a full Redis must not make it log in a loop.
    const warnings: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        warnings.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    apps.push(
      await buildApp(config, { maintenance: true, logger: createLogger({ ...config, LOG_LEVEL: 'warn' }, sink) }),
      await buildApp(config, { maintenance: false }),
    );
    for (const app of apps) {
      await app.ready();
      // As main.ts does once the replica listens.
      await app.mesh.maintenance?.start();
    }
    const pick = (i: number) => apps[i % 2] as FastifyInstance;
    expect(await a.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);

    for (const id of ['sender', 'mailbox', 'reader']) await register(pick(0), id);
    // A second namespace without a maintenance worker (nothing else writes to it) holds a lapsed
    // member. Re-registering it would first purge the old record (deletes are allowed when full)
    // and then write: without the script's shebang Redis would let those writes through once the
    // script had deleted something. With it the whole script is refused before it runs.
    const ns2 = uniqueNamespace('full2');
    const keys2 = meshKeys(ns2);
    const other = await buildApp(
      configFrom({ REDIS_URL: redis.url, MESH_NAMESPACE: ns2, LOG_LEVEL: 'silent', STALE_TIMEOUT_MS: 120_000 }),
      { maintenance: false },
    );
    apps.push(other);
    await register(other, 'ghost');
    await register(other, 'witness');
    await a.zadd(keys2.deadlines, 1, 'ghost'); // lapsed long ago
    // Queued for the reader before Redis fills: it fetches and acks them while Redis is full.
    const forReader: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await sendRaw(pick(i), 'sender', sendBody('reader', { k: `r${i}` }));
      expect(res.statusCode, res.body).toBe(200);
      forReader.push(`r${i}`);
    }

    // ---- fill: sends are acknowledged until Redis reaches maxmemory, then refused
    const limit = (await usedMemory(a)) + HEADROOM_BYTES;
    await a.config('SET', 'maxmemory', String(limit));
    const acked = new Set<string>();
    const refused = new Set<string>();
    let n = 0;
    for (; n < MAX_FILL_SENDS && refused.size === 0; n++) {
      const k = `m${n}`;
      const res = await sendRaw(pick(n), 'sender', sendBody('mailbox', { k, pad: CHUNK }));
      if (res.statusCode === 200) acked.add(k);
      else {
        const body = expectError(res, 507, 'insufficient_storage');
        expect(body.error).toMatch(/out of memory/);
        expect(res.headers['retry-after']).toBe('5');
        refused.add(k);
      }
    }
    expect(refused.size, `no send was refused after ${n} sends of ${CHUNK.length} bytes`).toBe(1);
    expect(acked.size).toBeGreaterThan(10);
    // Stay full whatever else allocates or frees meanwhile (client buffers, BullMQ).
    await a.config('SET', 'maxmemory', String(Math.max(1, (await usedMemory(a)) - 1024 * 1024)));

    // ---- a refused script is refused as a whole: not one key of the namespace changes
    const before = await snapshot(a, keys.prefix);
    const before2 = await snapshot(a, keys2.prefix);
    expect(before2.has(keys2.inst('ghost'))).toBe(true);
    const refusedCalls = await Promise.all([
      other.inject({ method: 'POST', url: '/registry/register', payload: registerBody('ghost') }),
      pick(0).inject({ method: 'POST', url: '/registry/register', payload: registerBody('late') }),
      sendRaw(pick(1), 'sender', sendBody('mailbox', { k: 'refused-direct', pad: CHUNK })),
      sendRaw(pick(0), 'sender', sendBody(null, { k: 'refused-broadcast' })),
      // re-registering a live member would rewrite its record: refused too
      pick(1).inject({ method: 'POST', url: '/registry/register', payload: registerBody('sender') }),
    ]);
    for (const res of refusedCalls) expectError(res, 507, 'insufficient_storage');
    refused.add('refused-direct');
    refused.add('refused-broadcast');
    expect(await snapshot(a, keys.prefix)).toEqual(before);
    expect(await snapshot(a, keys2.prefix)).toEqual(before2);

    // ---- what must keep working while full
    for (const [i, id] of ['sender', 'mailbox', 'reader'].entries()) {
      const hb = await pick(i).inject({ method: 'POST', url: `/registry/heartbeat/${id}`, payload: { status: 'healthy', metrics: null } });
      expect(hb.statusCode, `heartbeat ${id} while full: ${hb.body}`).toBe(200);
    }
    const list = await pick(1).inject({ url: '/registry/agents' });
    expect(list.statusCode).toBe(200);
    expect(
      list
        .json<{ instances: { instance_id: string }[] }>()
        .instances.map((x) => x.instance_id)
        .sort(),
    ).toEqual(['mailbox', 'reader', 'sender']);
    for (const app of apps) {
      const ready = await app.inject({ url: '/readyz' });
      expect(ready.statusCode, ready.body).toBe(200);
      expect(ready.json()).toMatchObject({ status: 'ready', eviction: { result: 'ok' } });
    }
    const readerFetch = await fetchRaw(pick(0), 'reader');
    expect(readerFetch.statusCode, readerFetch.body).toBe(200);
    const readerMsgs = readerFetch.json<{ messages: AgentMessage[] }>().messages;
    expect(readerMsgs.map((m) => (m.payload as { k: string }).k)).toEqual(forReader);
    const readerAck = await ackRaw(
      pick(1),
      'reader',
      readerMsgs.map((m) => m.message_id),
    );
    expect(readerAck.statusCode, readerAck.body).toBe(204);
    // A replica that starts now (a rollout, a restart) comes up and is ready: its maintenance
    // scheduler write is refused, and it tries again later instead of failing its startup.
    const lateReplica = await buildApp(config, { maintenance: true });
    apps.push(lateReplica);
    await lateReplica.ready();
    await lateReplica.mesh.maintenance!.start();
    expect((await lateReplica.inject({ url: '/readyz' })).statusCode).toBe(200);
    // still full: the reader's few small messages freed next to nothing
    expectError(await sendRaw(pick(0), 'sender', sendBody('mailbox', { k: 'still-full', pad: CHUNK })), 507, 'insufficient_storage');
    refused.add('still-full');

    // Stay full for several maintenance ticks: a tick that falls due now is refused by Redis, and
    // BullMQ would have lost its schedule (no tick ever again) and retried in a tight loop.
    const fullSince = Date.now();
    await sleep(config.CLEANUP_INTERVAL_MS * 4);
    const maintenanceWarnings = warnings.filter((l) => /maintenance/.test(l));
    expect(maintenanceWarnings.length, maintenanceWarnings.slice(0, 5).join('\n')).toBeGreaterThan(0);
    expect(maintenanceWarnings.length, 'maintenance logs in a loop while Redis is full').toBeLessThan(10);

    // ---- recovery: the mailbox drains its backlog (fetch + ack work while full), memory comes back
    const received: string[] = [];
    for (let round = 0; round < 50; round++) {
      const res = await fetchRaw(pick(round), 'mailbox', 'limit=50');
      expect(res.statusCode, res.body).toBe(200);
      const msgs = res.json<{ messages: AgentMessage[] }>().messages;
      if (msgs.length === 0) break;
      received.push(...msgs.map((m) => (m.payload as { k: string }).k));
      const ackRes = await ackRaw(
        pick(round + 1),
        'mailbox',
        msgs.map((m) => m.message_id),
      );
      expect(ackRes.statusCode, ackRes.body).toBe(204);
    }
    // Nothing acknowledged lost, nothing refused delivered, nothing twice (no retries happened).
    expect([...received].sort()).toEqual([...acked].sort());
    for (const k of refused) expect(received).not.toContain(k);

    // Writes succeed again without anyone touching Redis' configuration.
    const recovered = await eventually(
      async () => {
        const res = await sendRaw(pick(0), 'sender', sendBody('mailbox', { k: 'after' }));
        return res.statusCode === 200 ? res : null;
      },
      10_000,
      100,
    );
    expect(recovered.json()).toMatchObject({ status: 'queued', delivered_to: ['mailbox'] });
    expect((await pick(1).inject({ method: 'POST', url: '/registry/register', payload: registerBody('late') })).statusCode).toBe(200);
    const after = await fetchRaw(pick(1), 'mailbox');
    expect(after.json<{ messages: AgentMessage[] }>().messages.map((m) => (m.payload as { k: string }).k)).toEqual(['after']);
    const ids = (await pick(0).inject({ url: '/registry/agents' }))
      .json<{ instances: { instance_id: string }[] }>()
      .instances.map((x) => x.instance_id);
    expect(ids.sort()).toEqual(['late', 'mailbox', 'reader', 'sender']);
    // BullMQ's own scripts were refused while full; its ticks resume afterwards.
    // (Ticks go to either replica with a worker: count them together.)
    const ticks = () => apps.reduce((n, app) => n + (app.mesh.maintenance?.stats.runs ?? 0), 0);
    expect(apps.filter((app) => app.mesh.maintenance)).toHaveLength(2);
    const runs = ticks();
    await eventually(async () => ticks() >= runs + 2, 20_000, 100);

    console.log(
      '[redis-full]',
      JSON.stringify({
        limitBytes: limit,
        acked: acked.size,
        refused: refused.size,
        received: received.length,
        fillSends: n,
        fullMs: Date.now() - fullSince,
        maintenanceWarnings: maintenanceWarnings.length,
      }),
    );
  }, 120_000);
});
