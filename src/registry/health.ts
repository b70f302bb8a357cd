// Whether this replica can serve, as the probes (/readyz, /health) ask it: Redis answers a PING in
// time, and what the last check of Redis' eviction policy found (src/redis/eviction.ts).
import type { RedisClient } from '../redis/client.js';
import type { EvictionGuard, EvictionReport } from '../redis/eviction.js';

export type { EvictionReport } from '../redis/eviction.js';

/** A readiness probe must answer quickly even when Redis hangs (load balancers time out at ~1-2 s). */
export const READY_PING_TIMEOUT_MS = 1000;

export class RegistryHealth {
  constructor(
    private readonly redis: RedisClient,
    private readonly eviction: Pick<EvictionGuard, 'report'> | null = null,
  ) {}

  /** null when Redis answers; otherwise why it does not (for the probe's `reason`). */
  async redisProblem(timeoutMs = READY_PING_TIMEOUT_MS): Promise<string | null> {
    const status = this.redis.status;
    // While (re)connecting or reconnecting after a blip, a PING bounded by a short timeout tells
    // the truth better than the connection state alone (which lags right after start-up).
    if (status === 'end' || status === 'close') return `redis ${status}`;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.redis.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms (${status})`)), timeoutMs);
        }),
      ]);
      return null;
    } catch (err) {
      return `redis ping failed: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The last eviction-policy check, when this replica runs one. */
  get evictionReport(): EvictionReport | null {
    return this.eviction?.report ?? null;
  }
}
