// The run really uses the Redis topology TEST_TOPOLOGY asks for, and what is special about each
// one holds: a namespace lives in one cluster slot (so every script is single-slot), apps on
// Sentinel talk to the master the sentinels report, wake-ups cross apps on every topology.
// Topology-specific checks are only registered in the run of their topology (the suite runs once
// per topology in `npm test`), so no run reports a skipped test.
import { Cluster, Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { currentTopology, eventually, meshPerSuite, redisEnv, register, type TestMesh } from '../helpers/app.js';
import { scanAll, topologyFromEnv } from '../helpers/topology.js';
import type { MessagesResponse, SendResponse } from '../../sdk/src/types.js';

const TOPOLOGY = currentTopology();

const mesh = meshPerSuite({}, { apps: 2 });

describe('test topology', () => {
  it('is the one TEST_TOPOLOGY asks for, and apps get its env', () => {
    const topo = currentTopology();
    expect(topo).toBe(topologyFromEnv());
    const env = redisEnv();
    const expected = { standalone: ['REDIS_URL'], sentinel: ['REDIS_SENTINELS', 'REDIS_SENTINEL_NAME'], cluster: ['REDIS_CLUSTER_NODES'] }[
      topo
    ];
    expect(Object.keys(env).sort()).toEqual([...expected].sort());
    expect(mesh.redis instanceof Cluster).toBe(topo === 'cluster');
    if (topo === 'sentinel') expect(mesh.config.REDIS_SENTINELS).toHaveLength(3);
    if (topo === 'cluster') expect(mesh.config.REDIS_CLUSTER_NODES).toHaveLength(3);
  });

  it('wakes a long-poll on one app with a send through another', async () => {
    const [a, b] = mesh.apps as [NonNullable<TestMesh['apps'][0]>, NonNullable<TestMesh['apps'][0]>];
    await register(a, 'topo-src');
    await register(a, 'topo-dst');
    const started = Date.now();
    const poll = b.inject({ url: '/messages/topo-dst?wait=10' });
    await new Promise((r) => setTimeout(r, 200));
    const sent = await a.inject({
      method: 'POST',
      url: '/messages/send/topo-src',
      payload: { target_instance: 'topo-dst', message_type: 'Notification', payload: { n: 1 }, correlation_id: null },
    });
    expect(sent.statusCode).toBe(200);
    const res = await poll;
    expect(res.json<MessagesResponse>().messages.map((m) => m.message_id)).toEqual([sent.json<SendResponse>().message_id]);
    expect(Date.now() - started).toBeLessThan(8000);
  });

  if (TOPOLOGY === 'cluster')
    it('cluster: every key of a namespace is in one slot on one master', async () => {
      await register(mesh.apps[0]!, 'slot-a', { capabilities: ['x'] });
      await register(mesh.apps[0]!, 'slot-b', { capabilities: ['x'] });
      const keys = await mesh.namespaceKeys();
      expect(keys.length).toBeGreaterThan(5);
      const cluster = mesh.redis as Cluster;
      const slots = new Set(await Promise.all(keys.map((k) => cluster.call('CLUSTER', 'KEYSLOT', k))));
      expect(slots.size).toBe(1);
      // SCAN each master on its own (a key command on a non-owner would only answer MOVED).
      const perMaster = await Promise.all(cluster.nodes('master').map((node) => scanAll(node, `mesh:{${mesh.namespace}}:*`)));
      expect(perMaster.filter((found) => found.length > 0)).toEqual([keys]);
    });

  if (TOPOLOGY === 'sentinel')
    it('sentinel: apps write to the master the sentinels report', async () => {
      const [host, port] = (mesh.config.REDIS_SENTINELS?.[0] ?? '').split(':');
      const sentinel = new Redis({ host, port: Number(port), lazyConnect: true });
      try {
        await sentinel.connect();
        const [mhost, mport] = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', mesh.config.REDIS_SENTINEL_NAME)) as [
          string,
          string,
        ];
        const master = new Redis({ host: mhost, port: Number(mport), lazyConnect: true });
        try {
          await master.connect();
          await register(mesh.apps[0]!, 'on-master');
          await eventually(async () => (await master.exists(mesh.keys.inst('on-master'))) === 1, 5000);
          const role = (await master.call('ROLE')) as [string];
          expect(role[0]).toBe('master');
          const clients = String(await master.call('CLIENT', 'LIST'));
          expect(clients).toMatch(/name=agent-mesh:commands/);
        } finally {
          master.disconnect();
        }
      } finally {
        sentinel.disconnect();
      }
    });

  if (TOPOLOGY === 'standalone')
    it('standalone: one server answers for everything', async () => {
      const c = new Redis(inject('redisUrl'));
      try {
        expect(await c.ping()).toBe('PONG');
        await register(mesh.apps[0]!, 'single');
        expect(await c.exists(mesh.keys.inst('single'))).toBe(1);
      } finally {
        c.disconnect();
      }
    });
});
