// Liveness (process is up), readiness (Redis answers and we are not shutting down) and the
// seed-compatible /health.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { RedisClient } from '../../redis/client.js';
import type { EvictionReport } from '../../redis/eviction.js';
import type { InstanceService } from '../../registry/instances.js';
import { errorBody, healthResponse, probeResponse } from '../schemas.js';

export interface HealthDeps {
  redis: RedisClient;
  instances: InstanceService;
  version: string;
  namespace: string;
  isShuttingDown: () => boolean;
  startedAt: number;
  /** The last Redis eviction-policy check (src/redis/eviction.ts), shown in /readyz. */
  eviction?: () => EvictionReport;
}

/** A readiness probe must answer quickly even when Redis hangs (load balancers time out at ~1-2 s). */
const READY_PING_TIMEOUT_MS = 1000;

export const healthRoutes: FastifyPluginAsyncZod<HealthDeps> = async (app, deps) => {
  const ready = async (): Promise<string | null> => {
    if (deps.isShuttingDown()) return 'shutting down';
    const status = deps.redis.status;
    // While (re)connecting or reconnecting after a blip, a PING bounded by a short timeout tells
    // the truth better than the connection state alone (which lags right after start-up).
    if (status === 'end' || status === 'close') return `redis ${status}`;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        deps.redis.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${READY_PING_TIMEOUT_MS} ms (${status})`)), READY_PING_TIMEOUT_MS);
        }),
      ]);
      return null;
    } catch (err) {
      return `redis ping failed: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      clearTimeout(timer);
    }
  };

  app.get('/livez', { schema: { operationId: 'livez', summary: 'Liveness: the process answers', tags: ['health'], response: { 200: probeResponse } }, logLevel: 'warn' }, async () => ({
    status: 'ok',
  }));

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'readyz',
        summary: 'Readiness: Redis answers and the replica is not shutting down',
        tags: ['health'],
        response: { 200: probeResponse, 503: probeResponse },
      },
      logLevel: 'warn',
    },
    async (_request, reply) => {
      const problem = await ready();
      // Details only: a policy that may evict is a risk to report, not a reason to drain the replica.
      const details = deps.eviction ? { eviction: deps.eviction() } : {};
      if (problem) {
        reply.code(503).header('retry-after', '1');
        return { status: 'unavailable', reason: problem, ...details };
      }
      return { status: 'ready', ...details };
    },
  );

  app.get(
    '/health',
    {
      schema: {
        operationId: 'health',
        summary: 'Seed-compatible health: version, uptime and live instances (503 when not ready)',
        tags: ['health'],
        response: { 200: healthResponse, 503: errorBody },
      },
      logLevel: 'warn',
    },
    async (_request, reply) => {
      const problem = await ready();
      if (problem) {
        reply.code(503).header('retry-after', '1');
        return { error: `not ready: ${problem}`, code: 'unavailable' };
      }
      return {
        status: 'ok' as const,
        version: deps.version,
        uptime_seconds: Math.floor((Date.now() - deps.startedAt) / 1000),
        active_sessions: await deps.instances.liveCount(),
        namespace: deps.namespace,
        redis: 'ready',
      };
    },
  );
};
