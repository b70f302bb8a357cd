// Liveness (process is up), readiness (Redis answers and we are not shutting down) and the
// seed-compatible /health.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { RegistryHealth } from '../../registry/health.js';
import type { InstanceService } from '../../registry/instances.js';
import { errorBody, healthResponse, probeResponse } from '../schemas.js';

export interface HealthDeps {
  health: RegistryHealth;
  instances: InstanceService;
  version: string;
  namespace: string;
  isShuttingDown: () => boolean;
  startedAt: number;
}

export const healthRoutes: FastifyPluginAsyncZod<HealthDeps> = async (app, deps) => {
  const ready = async (): Promise<string | null> => (deps.isShuttingDown() ? 'shutting down' : deps.health.redisProblem());

  app.get(
    '/livez',
    {
      schema: { operationId: 'livez', summary: 'Liveness: the process answers', tags: ['health'], response: { 200: probeResponse } },
      logLevel: 'warn',
    },
    async () => ({
      status: 'ok',
    }),
  );

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
      const eviction = deps.health.evictionReport;
      const details = eviction ? { eviction } : {};
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
