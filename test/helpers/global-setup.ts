// One Redis for the whole vitest run. Tests isolate themselves by a unique MESH_NAMESPACE
// (see ns.ts), so sharing is safe and saves a container/process start per test file.
//
// TEST_TOPOLOGY=standalone (default) | sentinel | cluster picks its shape (topology.ts). Tests read:
//   inject('redisEnv')   the env an app/replica needs (REDIS_URL, or REDIS_SENTINELS +
//                        REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES): use this to build apps
//   inject('topology')   which of the three it is (currentTopology() in env.ts reads it)
//   inject('redisUrl')   standalone: the server; sentinel: the master at start; cluster: one node.
//                        Only for plain-client checks that work on any node (PING).
import type { TestProject } from 'vitest/node';
import type { RedisKind } from './redis.js';
import { startTopology, topologyFromEnv, type TopologyKind } from './topology.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisKind: RedisKind;
    redisEnv: Record<string, string>;
    topology: TopologyKind;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const kind = topologyFromEnv();
  const topo = await startTopology(kind);
  const redisKind: RedisKind = topo.kind === 'standalone' ? topo.redis.kind : 'process';
  const where = topo.kind === 'standalone' ? topo.url : Object.values(topo.env).join(' ');
  process.stderr.write(`[global-setup] ${kind} (${redisKind}) Redis at ${where} (${Date.now() - started} ms)\n`);
  project.provide('redisUrl', topo.url);
  project.provide('redisKind', redisKind);
  project.provide('redisEnv', topo.env);
  project.provide('topology', kind);
  return async () => {
    await topo.stop();
  };
}
