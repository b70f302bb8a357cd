// What a test needs to reach this run's Redis, whatever TEST_TOPOLOGY is (see global-setup.ts),
// and the topology guard for tests that only make sense on some topologies.
import { inject } from 'vitest';
import type { TopologyKind } from './topology.js';

/**
 * The env that points an app or replica at this run's Redis, whatever its topology (REDIS_URL,
 * or REDIS_SENTINELS + REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES). Falls back to redisUrl for a
 * global setup that predates topologies.
 */
export function redisEnv(): Record<string, string> {
  const env = inject('redisEnv') as Record<string, string> | undefined;
  return env && Object.keys(env).length > 0 ? { ...env } : { REDIS_URL: inject('redisUrl') };
}

/** This run's topology (TEST_TOPOLOGY). */
export function currentTopology(): TopologyKind {
  return inject('topology') ?? 'standalone';
}
