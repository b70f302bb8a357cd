// buildApp(config) -> a ready-to-listen Fastify instance with every dependency wired; no listen().
// Tests use it directly (several apps sharing one Redis behave like several replicas); main.ts adds
// listen and graceful shutdown.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Config } from './config.js';
import { createRedis, type RedisClient } from './redis/client.js';
import { EvictionGuard } from './redis/eviction.js';
import { meshKeys } from './redis/keys.js';
import { ScriptRunner } from './redis/script-runner.js';
import type { RegistryContext } from './registry/context.js';
import { InstanceService } from './registry/instances.js';
import { Maintenance } from './registry/maintenance.js';
import { DataLossMonitor } from './registry/data-loss.js';
import { MembershipView } from './registry/membership.js';
import { MessageService } from './registry/messages.js';
import { ReplicaSync } from './registry/replica-sync.js';
import { WakeBus } from './registry/wakeups.js';
import { SendRateLimiter } from './registry/ratelimit.js';
import { Auth } from './http/plugins/auth.js';
import errorsPlugin from './http/plugins/errors.js';
import securityPlugin, { clientErrorHandler, frameworkErrorHandler, genRequestId } from './http/plugins/security.js';
import { installJsonBodyParser } from './http/json-body.js';
import { serializeRequest } from './http/log-redaction.js';
import { JSON_BODY_MAX_DEPTH } from './http/schemas.js';
import { healthRoutes } from './http/routes/health.js';
import { messageRoutes } from './http/routes/messages.js';
import { registryRoutes } from './http/routes/registry.js';
import metricsPlugin from './http/plugins/metrics.js';
import openapiPlugin from './http/plugins/openapi.js';
import { eventRoutes } from './http/routes/events.js';
import { EventFeed } from './registry/events.js';
import { RegistryStats } from './registry/stats.js';
import { MeshCounters } from './registry/counters.js';
import { InboxInspector } from './registry/inspect.js';
import { operatorRoutes } from './http/routes/operator.js';
import { a2aRoutes } from './http/routes/a2a.js';
import { AgentCardService } from './registry/agent-cards.js';
import { RegistryHealth } from './registry/health.js';
import { ScriptLatency } from './registry/script-latency.js';
import { DEFAULT_UI_DIR, uiRoutes } from './http/routes/ui.js';
import { VERSION } from './version.js';

export interface AppServices {
  config: Config;
  redis: RedisClient;
  instances: InstanceService;
  messages: MessageService;
  wake: WakeBus;
  maintenance: Maintenance | null;
  auth: Auth;
  /** REDIS_SYNC_REPLICAS > 0: the barrier confirming acknowledged writes. */
  sync: ReplicaSync | null;
}

declare module 'fastify' {
  interface FastifyInstance {
    mesh: AppServices;
  }
}

export interface BuildOptions {
  logger?: Logger;
  /** Start the BullMQ maintenance worker (default: config.RUN_MAINTENANCE). */
  maintenance?: boolean;
}

/** Header and body fields holding secrets: censored wherever a log line carries them. */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers["x-instance-token"]',
  'headers.authorization',
  'headers["x-instance-token"]',
  'instance_token',
  '*.instance_token',
];

export function createLogger(config: Config, destination?: DestinationStream): Logger {
  const options = {
    level: config.LOG_LEVEL,
    // Tokens never reach the logs: not from headers or bodies, nor from query strings.
    redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
    serializers: { req: serializeRequest },
  };
  return destination ? pino(options, destination) : pino(options);
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const logger = options.logger ?? createLogger(config);
  const keys = meshKeys(config.MESH_NAMESPACE);
  const redis = createRedis(config, { name: 'commands', maxRetriesPerRequest: 1, autoPipelining: true });
  const subscriber = createRedis(config, { name: 'wake-subscriber', maxRetriesPerRequest: null, subscriber: true });
  const wake = new WakeBus(redis, subscriber, keys.wakeChannel, logger);
  const scripts = new ScriptRunner(redis);
  // REDIS_SYNC_REPLICAS: acknowledged writes get a connection of their own, where their WAITs block
  // nothing else (src/registry/replica-sync.ts).
  const writes =
    config.REDIS_SYNC_REPLICAS > 0 ? createRedis(config, { name: 'writes', maxRetriesPerRequest: 1, autoPipelining: true }) : null;
  const sync = writes
    ? new ReplicaSync(scripts.onClient(writes), keys, config.REDIS_SYNC_REPLICAS, config.REDIS_SYNC_TIMEOUT_MS)
    : undefined;
  const ctx: RegistryContext = { config, keys, scripts, wake, ...(sync ? { sync } : {}) };
  const dataLoss = new DataLossMonitor(ctx, logger);
  const instances = new InstanceService(ctx, dataLoss);
  const membership = new MembershipView(ctx, logger);
  membership.start();
  const messages = new MessageService(ctx, membership, () => instances.cleanupBatch(config.CLEANUP_BATCH_SIZE));
  const auth = new Auth(config, instances);
  const sendLimiter = SendRateLimiter.fromContext(ctx);
  const stats = new RegistryStats(ctx);
  const counters = new MeshCounters(ctx);
  const runMaintenance = options.maintenance ?? config.RUN_MAINTENANCE;
  const bullConnection = runMaintenance ? createRedis(config, { name: 'maintenance', maxRetriesPerRequest: null }) : null;
  const eviction = new EvictionGuard(redis, config, logger);
  const maintenance = bullConnection
    ? new Maintenance({ config, connection: bullConnection, prefix: keys.bullPrefix, instances, messages, log: logger, counters })
    : null;

  const app = Fastify({
    // TypeScript 7 (the build) needs the assertion, the linter's TypeScript 6 does not.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: config.BODY_LIMIT_BYTES,
    // Instance ids may be 128 chars (ID_PATTERN) but the router's default cut-off is 100: longer
    // ids got 414 on every /messages/{id} and /registry/.../{id} route. Leave validation to zod.
    routerOptions: { maxParamLength: 512 },
    // x-request-id is honoured only when it is a short token (see genRequestId).
    requestIdHeader: false,
    genReqId: genRequestId,
    clientErrorHandler,
    frameworkErrors: frameworkErrorHandler,
    // A client gets this long to send its whole request (headers and body); slow senders cannot
    // hold sockets and buffers indefinitely. Answers (long-polls, streams) are not limited by it.
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    // Node checks request timeouts only this often (default 30 s): keep it a fraction of them.
    http: { connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(config.REQUEST_TIMEOUT_MS / 4))) },
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });
  // The API speaks JSON only: without the built-in text/plain parser other bodies get a clear 415.
  app.removeContentTypeParser('text/plain');
  installJsonBodyParser(app, JSON_BODY_MAX_DEPTH);
  // Headers must arrive well within the request timeout (Node's default waits 60 s for them).
  app.server.headersTimeout = Math.min(app.server.headersTimeout, config.REQUEST_TIMEOUT_MS);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorate('mesh', { config, redis, instances, messages, wake, maintenance, auth, sync: sync ?? null });

  let shuttingDown = false;
  app.addHook('onSend', (_request, reply, payload, done) => {
    // A request still in flight at shutdown (a long-poll woken by close) must not leave a
    // keep-alive socket behind: server.close() would wait for it to time out.
    if (shuttingDown) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('preClose', async () => {
    shuttingDown = true;
    // Wake long-polls and end SSE streams so close() does not wait for their deadlines.
    wake.close();
    // Sockets that connected but never sent a request are not "idle" to Node, so server.close()
    // would wait for them until the 60 s headers timeout. Give in-flight requests a short drain,
    // then close whatever is left.
    const drain = setTimeout(() => app.server.closeAllConnections(), Math.min(3000, config.SHUTDOWN_TIMEOUT_MS / 2));
    drain.unref();
  });
  app.addHook('onClose', async () => {
    dataLoss.stop();
    eviction.stop();
    await maintenance?.close();
    await Promise.allSettled([redis.quit(), subscriber.quit(), bullConnection?.quit(), writes?.quit()]);
  });

  await app.register(errorsPlugin);
  // Headers, CORS and the auth guard hook: before any route, so every route gets them.
  await app.register(securityPlugin, { config, auth });
  // OpenAPI before every route: it learns them (and adds the common error answers) in onRoute.
  await app.register(openapiPlugin, { config, version: VERSION });
  await app.register(metricsPlugin, {
    config,
    auth,
    instances,
    messages,
    maintenance,
    wake,
    scriptLatency: new ScriptLatency(scripts),
    sync: sync ?? null,
    stats,
    dataLoss,
    version: VERSION,
  });
  await app.register(healthRoutes, {
    health: new RegistryHealth(redis, eviction),
    instances,
    version: VERSION,
    namespace: config.MESH_NAMESPACE,
    isShuttingDown: () => shuttingDown,
    startedAt: Date.now(),
  });
  await app.register(registryRoutes, { instances, auth });
  await app.register(messageRoutes, { messages, wake, auth, config, sendLimiter });

  await app.register(eventRoutes, { feed: new EventFeed(ctx), wake, auth, config });
  // The operator console (/ui) and the read routes it needs besides the public API.
  const cards = new AgentCardService(ctx);
  await app.register(operatorRoutes, { config, auth, instances, stats, counters, inspector: new InboxInspector(ctx), cards });
  await app.register(uiRoutes, { dir: config.UI_DIR ?? DEFAULT_UI_DIR });
  // A2A Agent Cards of live members, and the registry's own card at the well-known URI.
  await app.register(a2aRoutes, { config, auth, cards, version: VERSION });

  await wake.start();
  dataLoss.start();
  try {
    // A Redis that may evict is refused before anything is written to it.
    await eviction.startupCheck();
  } catch (err) {
    await app.close();
    throw err;
  }
  eviction.start();
  // REDIS_SYNC_REPLICAS above the replicas there are would turn every acknowledged write into a
  // 503 after the sync timeout: say so at startup (not fatal: a replica may be syncing still).
  if (sync) {
    sync.confirm().then(
      () => logger.info({ replicas: sync.replicas }, 'REDIS_SYNC_REPLICAS: the replicas confirm writes'),
      (err: unknown) =>
        logger.warn(
          { replicas: sync.replicas, timeoutMs: sync.timeoutMs, reason: err instanceof Error ? err.message : String(err) },
          'REDIS_SYNC_REPLICAS: the replicas did not confirm a test write; acknowledged writes are answered 503 not_replicated until they do',
        ),
    );
  }
  // maintenance.start() writes (the BullMQ job scheduler): main.ts calls it once the server
  // listens, so a replica that fails to bind leaves nothing behind in Redis.
  if (config.AUTH_MODE === 'none') {
    logger.warn('AUTH_MODE=none: anyone who can reach this server can act as any instance (seed-compatible default)');
  }
  return app;
}
