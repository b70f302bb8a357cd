// One place that turns config into ioredis clients for standalone, Sentinel or Cluster.
import { Cluster, Redis, type RedisOptions, type ClusterOptions } from 'ioredis';
import type { Config } from '../config.js';

export type RedisClient = Redis | Cluster;

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

export interface ClientPurpose {
  /** Shown in CLIENT LIST, helps operators tell connections apart. */
  name: string;
  /**
   * null = queue commands forever (BullMQ's blocking connections need this);
   * a number = fail fast so HTTP requests answer 503 instead of hanging while Redis is away.
   */
  maxRetriesPerRequest: number | null;
  /** Subscriber connections on Cluster use sharded pub/sub. */
  subscriber?: boolean;
  /**
   * Batch the commands issued in one event-loop turn into one write (ioredis auto-pipelining).
   * For the connection that serves HTTP requests: under load many heartbeats are in flight at
   * once, and one write() + one read() per batch instead of per command roughly halves the CPU
   * Redis spends per heartbeat and cuts the replica's syscalls (docs/performance.md).
   */
  autoPipelining?: boolean;
}

export function createRedis(config: Config, purpose: ClientPurpose): RedisClient {
  const base: RedisOptions = {
    connectionName: `agent-mesh:${purpose.name}`,
    maxRetriesPerRequest: purpose.maxRetriesPerRequest,
    enableAutoPipelining: purpose.autoPipelining === true,
    enableOfflineQueue: true,
    // Reconnect forever with a capped backoff: Redis coming back must heal the replica by itself.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    ...(config.REDIS_PASSWORD ? { password: config.REDIS_PASSWORD } : {}),
    ...(purpose.maxRetriesPerRequest === null ? {} : { commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS }),
  };
  if (config.REDIS_CLUSTER_NODES) {
    const options: ClusterOptions = {
      redisOptions: base,
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
      shardedSubscribers: purpose.subscriber === true,
      // Cluster pipelines per node; every key of a namespace hashes to one slot anyway.
      enableAutoPipelining: purpose.autoPipelining === true,
    };
    return new Redis.Cluster(config.REDIS_CLUSTER_NODES.map(hostPort), options);
  }
  if (config.REDIS_SENTINELS) {
    return new Redis({
      ...base,
      sentinels: config.REDIS_SENTINELS.map(hostPort),
      name: config.REDIS_SENTINEL_NAME,
      // Follow a failover at once instead of writing to a demoted master for ~10 s.
      failoverDetector: true,
    });
  }
  return new Redis(config.REDIS_URL, base);
}
