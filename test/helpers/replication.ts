// Redis with replicas for REDIS_SYNC_REPLICAS tests: a standalone master + replica pair, and a
// replica added to one master of a test cluster (startCluster's masters have none). Local
// redis-server processes on free ports; every child is killed by procs.ts if the run dies.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { spawnTracked, waitUntil, which, type TrackedChild } from './procs.js';
import { startRedisProcess, type RedisProcessHandle } from './redis.js';
import { waitForPing } from './redis-ping.js';
import { clusterNodeArgs, type ClusterTopology, type HostPort } from './topology.js';

const HOST = '127.0.0.1';

function admin(port: number): Redis {
  const c = new Redis({ host: HOST, port, maxRetriesPerRequest: 1, lazyConnect: false });
  c.on('error', () => undefined);
  return c;
}

/** Resolves once `master` reports `replicas` replicas online and caught up with its offset. */
async function replicasOnline(master: Redis, replicas: number, timeoutMs = 20_000): Promise<void> {
  await waitUntil(
    async () => {
      const info = await master.info('replication').catch(() => '');
      const offset = /master_repl_offset:(\d+)/.exec(info)?.[1];
      const online = [...info.matchAll(/slave\d+:.*state=online,offset=(\d+)/g)];
      return online.length >= replicas && online.every((m) => m[1] === offset);
    },
    timeoutMs,
    () => `master did not get ${replicas} replica(s) online within ${timeoutMs} ms`,
    50,
  );
}

export interface PrimaryReplica {
  master: RedisProcessHandle;
  replica: RedisProcessHandle;
  /** Admin connections (tests read the replica's copy directly). */
  masterClient: Redis;
  replicaClient: Redis;
  stop(): Promise<void>;
}

/** A master and one replica (REPLICAOF), replicating and caught up. */
export async function startPrimaryReplica(): Promise<PrimaryReplica> {
  const master = await startRedisProcess();
  const replica = await startRedisProcess().catch(async (err: unknown) => {
    await master.stop();
    throw err;
  });
  const masterClient = admin(master.port);
  const replicaClient = admin(replica.port);
  const stop = async () => {
    masterClient.disconnect();
    replicaClient.disconnect();
    await Promise.allSettled([replica.stop(), master.stop()]);
  };
  try {
    await replicaClient.replicaof(HOST, master.port);
    await replicasOnline(masterClient, 1);
  } catch (err) {
    await stop();
    throw err;
  }
  return { master, replica, masterClient, replicaClient, stop };
}

export interface ClusterReplica {
  /** The master the replica follows. */
  master: HostPort;
  port: number;
  stop(): Promise<void>;
}

/** Adds a replica to the master of `cluster` that owns `key`'s slot. */
export async function addClusterReplica(cluster: ClusterTopology, key: string): Promise<ClusterReplica> {
  const bin = await which('redis-server');
  if (!bin) throw new Error('redis-server not installed');
  const first = admin(cluster.nodes[0]!.port);
  let child: TrackedChild | undefined;
  const dir = await mkdtemp(path.join(tmpdir(), 'mesh-cluster-replica-'));
  const extra: Redis[] = [first];
  const stop = async () => {
    for (const c of extra) c.disconnect();
    await child?.terminate('SIGTERM', 5000);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const slot = Number(await first.call('CLUSTER', 'KEYSLOT', key));
    const nodesText = String(await first.call('CLUSTER', 'NODES'));
    // <id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <state> <slot ranges...>
    const owner = nodesText
      .split('\n')
      .map((l) => l.trim().split(' '))
      .find(
        (f) =>
          f[2]?.includes('master') &&
          f.slice(8).some((r) => {
            const [a, b = a] = r.split('-').map(Number) as [number, number?];
            return slot >= a && slot <= b;
          }),
      );
    if (!owner) throw new Error(`no master owns slot ${slot}:\n${nodesText}`);
    const [ownerId, ownerAddr] = owner as [string, string];
    const masterPort = Number(ownerAddr.split('@')[0]!.split(':')[1]);
    const port = await freePort(HOST);
    let bus = await freePort(HOST);
    while (bus === port) bus = await freePort(HOST);
    child = spawnTracked(bin, clusterNodeArgs(port, bus, dir), { cwd: dir });
    await waitForPing(HOST, port, 15_000, () => `\n${child?.logs() ?? ''}`);
    const node = admin(port);
    extra.push(node);
    // The cluster bus is on an explicit port (cluster-port): a known node meets the new one there.
    await first.call('CLUSTER', 'MEET', HOST, port, bus);
    // REPLICATE needs the master known to the new node (gossip after MEET).
    await waitUntil(
      async () => String(await node.call('CLUSTER', 'NODES').catch(() => '')).includes(ownerId),
      15_000,
      () => `new node did not learn master ${ownerId}`,
      100,
    );
    await node.call('CLUSTER', 'REPLICATE', ownerId);
    const masterAdmin = admin(masterPort);
    extra.push(masterAdmin);
    await replicasOnline(masterAdmin, 1);
    return { master: { host: HOST, port: masterPort }, port, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
