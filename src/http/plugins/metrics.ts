// GET /metrics in the Prometheus text format (prom-client).
//  - mesh_* metrics live in a Registry of this app's own, so several apps in one process (tests,
//    embedding) never share or clash; process_* / nodejs_* (CPU, memory, GC, event-loop lag) are
//    facts about the process and come from one process-wide Registry appended to every scrape (its
//    GC observer and event-loop monitor cannot be released, so one per app would leak).
//  - Counters are this replica's share (sum them across replicas); they read the services' own
//    counters at scrape time, so the registry code has no metrics dependency.
//  - Registry-wide gauges (live instances, leader, term, inbox depth, stream lengths) are read FROM
//    REDIS at scrape time by one read-only script, so every replica reports the same truth.
// With METRICS_TOKEN set, a scrape needs `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise);
// without it, a scrape needs what a registry read needs (nothing in AUTH_MODE=none).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { errors } from '../../errors.js';
import type { InstanceService } from '../../registry/instances.js';
import type { Maintenance } from '../../registry/maintenance.js';
import type { MessageService } from '../../registry/messages.js';
import type { ReplicaSync } from '../../registry/replica-sync.js';
import type { RegistryStats } from '../../registry/stats.js';
import type { WakeBus } from '../../registry/wakeups.js';
import type { DataLossMonitor } from '../../registry/data-loss.js';
import type { ScriptLatency } from '../../registry/script-latency.js';
import { bearerOf, TokenSet } from '../bearer.js';
import type { Auth } from './auth.js';
import { errorBody } from '../schemas.js';

export interface MetricsDeps {
  config: Config;
  /** Without METRICS_TOKEN, a scrape in token/instance mode needs what a registry read needs. */
  auth: Auth;
  instances: InstanceService;
  messages: MessageService;
  maintenance: Maintenance | null;
  wake: WakeBus;
  /** Latency of the script calls this replica makes. */
  scriptLatency: ScriptLatency;
  /** REDIS_SYNC_REPLICAS > 0: the barrier confirming acknowledged writes. */
  sync?: ReplicaSync | null;
  stats: RegistryStats;
  /** Noticed losses of the namespace's data in Redis (data-loss.ts). */
  dataLoss?: DataLossMonitor;
  version: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** This app's own prom-client registry (mesh_* metrics). */
    metricsRegistry: Registry;
  }
}

const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const REDIS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

let processRegistry: Registry | null = null;

/** process_* and nodejs_* metrics (event-loop lag included), collected once per process. */
export function processMetricsRegistry(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** Routes whose replies are hijacked for server-sent events. */
const STREAM_ROUTES: ReadonlySet<string> = new Set(['/registry/events', '/messages/:id/stream']);

/** When Fastify received the request (reply.elapsedTime is not available after an abort). */
const received = new WeakMap<FastifyRequest, number>();
const startedAt = (request: FastifyRequest): number => received.get(request) ?? performance.now();

async function metricsPlugin(app: FastifyInstance, deps: MetricsDeps): Promise<void> {
  const { instances, messages, maintenance, wake, scriptLatency, stats } = deps;
  const registry = new Registry();
  const registers = [registry];
  app.decorate('metricsRegistry', registry);

  // ---- HTTP ---------------------------------------------------------------------------------
  const httpDuration = new Histogram({
    name: 'mesh_http_request_duration_seconds',
    help: 'HTTP request duration by route pattern, method and status (SSE streams and long-polls: their whole life; 499: client left first)',
    labelNames: ['route', 'method', 'status_code'] as const,
    buckets: HTTP_BUCKETS,
    registers,
  });
  const observed = new WeakSet<FastifyRequest>();
  // One labelled child per (route, method, status), kept: observing through a labels object hashes
  // it on every request, a visible share of a heartbeat's CPU.
  const children = new Map<string, Map<string, ReturnType<typeof httpDuration.labels>>>();
  const observe = (request: FastifyRequest, status: string, ms: number) => {
    observed.add(request);
    // The route pattern, never the raw URL: ids in paths would explode the label set.
    const route = request.routeOptions.url ?? 'unmatched';
    let byStatus = children.get(route);
    if (!byStatus) children.set(route, (byStatus = new Map<string, ReturnType<typeof httpDuration.labels>>()));
    const key = `${request.method} ${status}`;
    let child = byStatus.get(key);
    if (!child) byStatus.set(key, (child = httpDuration.labels({ route, method: request.method, status_code: status })));
    child.observe(ms / 1000);
  };
  // Callback-style hooks (no promise per request): they run on every request.
  app.addHook('onRequest', (request, reply, done) => {
    received.set(request, performance.now());
    // Hijacked replies (the SSE streams) never reach onResponse: they are measured when their
    // socket closes. Only those routes pay for a listener (a measurable share of a heartbeat's CPU).
    if (STREAM_ROUTES.has(request.routeOptions.url ?? '')) {
      reply.raw.once('close', () => {
        if (observed.has(request)) return;
        observe(request, reply.raw.headersSent ? String(reply.raw.statusCode) : '499', reply.elapsedTime);
      });
    }
    done();
  });
  // A client that went away before any answer: 499, as nginx logs it.
  app.addHook('onRequestAbort', (request, done) => {
    if (!observed.has(request)) observe(request, '499', performance.now() - startedAt(request));
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    if (!observed.has(request)) observe(request, String(reply.statusCode), reply.elapsedTime);
    done();
  });

  // ---- Redis script latency -------------------------------------------------------------------
  const scriptDuration = new Histogram({
    name: 'mesh_redis_script_duration_seconds',
    help: 'Latency of Lua script calls to Redis (round trip included) by script and outcome',
    labelNames: ['script', 'outcome'] as const,
    buckets: REDIS_BUCKETS,
    registers,
  });
  const unobserve = scriptLatency.subscribe((name, ms, err) => {
    scriptDuration.observe({ script: name, outcome: err === null ? 'ok' : 'error' }, ms / 1000);
  });
  app.addHook('onClose', async () => unobserve());

  // ---- Counters: this replica's share, read from the services at scrape time ------------------
  const ic = instances.counters;
  /** A counter whose value(s) are read from a service's counters at scrape time, by `result`. */
  const byResult = (name: string, help: string, read: Record<string, () => number>) =>
    new Counter({
      name,
      help,
      labelNames: ['result'] as const,
      registers,
      collect() {
        this.reset();
        for (const [result, value] of Object.entries(read)) this.inc({ result }, value());
      },
    });
  byResult('mesh_registrations_total', 'Register calls by result: created (new member), refreshed (live member again), conflict (409)', {
    created: () => ic.registered,
    refreshed: () => ic.refreshed,
    conflict: () => ic.conflicts,
  });
  byResult('mesh_heartbeats_total', 'Heartbeats by result: ok, or unknown (id unknown or lapsed: answered 404)', {
    ok: () => ic.heartbeats,
    unknown: () => ic.heartbeatsUnknown,
  });
  byResult('mesh_deregistrations_total', 'Deregister calls by result: removed, or unknown (id unknown or already lapsed)', {
    removed: () => ic.deregistered,
    unknown: () => ic.deregisterUnknown,
  });
  const simple = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  simple(
    'mesh_redis_data_loss_total',
    "Times this replica noticed Redis had lost the namespace's data (its epoch changed or vanished): members re-register",
    () => deps.dataLoss?.detected ?? 0,
  );
  simple('mesh_expirations_total', 'Members removed by cleanup because their heartbeat lapsed', () => ic.expired);
  simple('mesh_leader_changes_total', 'Changes of leader (elections and vacancies) decided by this replica', () => ic.leaderChanges);
  simple(
    'mesh_status_changes_total',
    'Status changes announced as updated events (at most one per instance per STATUS_EVENT_INTERVAL_MS)',
    () => ic.statusChanges,
  );

  const mc = messages.counters;
  simple('mesh_messages_sent_total', 'Messages accepted by send (one per send, whatever the fan-out)', () => mc.sent);
  simple('mesh_messages_delivered_total', 'Message copies queued for recipients (broadcasts count each recipient)', () => mc.delivered);
  simple('mesh_messages_acked_total', 'Message copies acknowledged by their recipient', () => mc.acked);
  simple('mesh_messages_expired_total', 'Message copies dropped after MESSAGE_TTL_MS', () => mc.expired);
  simple(
    'mesh_messages_rejected_total',
    'Sends refused (unknown source/target, inbox full, too large, no capable instance)',
    () => mc.rejected,
  );
  simple(
    'mesh_messages_replayed_total',
    'Sends and requests answered with the first result of their Idempotency-Key (nothing queued)',
    () => mc.replayed,
  );

  // REDIS_SYNC_REPLICAS (zero when off): writes confirmed by replicas, per barrier (one WAIT each).
  const sc = deps.sync?.counters;
  byResult(
    'mesh_redis_sync_writes_total',
    'Acknowledged writes by replica confirmation: confirmed, not_replicated (503: too few replicas in time), failed (503 not_replicated: the barrier hit a Redis error)',
    {
      confirmed: () => sc?.confirmed ?? 0,
      not_replicated: () => sc?.notReplicated ?? 0,
      failed: () => sc?.failed ?? 0,
    },
  );
  simple(
    'mesh_redis_sync_barriers_total',
    'Replica-sync barriers run (one WAIT each, shared by the writes of one event-loop turn)',
    () => sc?.barriers ?? 0,
  );
  simple(
    'mesh_redis_sync_wait_seconds_total',
    'Time spent in replica-sync barriers (divide by barriers for the mean)',
    () => sc?.waitSeconds ?? 0,
  );

  const ms = maintenance?.stats;
  simple('mesh_cleanup_runs_total', 'Maintenance ticks run by this replica (exactly one replica runs each tick)', () => ms?.runs ?? 0);
  simple('mesh_cleanup_removed_total', 'Lapsed members removed by maintenance ticks run by this replica', () => ms?.removed ?? 0);
  simple(
    'mesh_cleanup_scheduler_repairs_total',
    'Times this replica found the maintenance job scheduler missing from Redis (data lost) and recreated it',
    () => ms?.repairs ?? 0,
  );
  new Gauge({
    name: 'mesh_cleanup_last_duration_seconds',
    help: "Duration of this replica's last maintenance tick (0 before its first)",
    registers,
    collect() {
      this.set((ms?.lastRun?.durationMs ?? 0) / 1000);
    },
  });

  // ---- Process-local gauges --------------------------------------------------------------------
  new Gauge({
    name: 'mesh_wake_waiters',
    help: 'Long-polls, streams and request/response calls waiting on this replica',
    registers,
    collect() {
      this.set(wake.waiterCount);
    },
  });
  new Gauge({
    name: 'mesh_build_info',
    help: 'Always 1: version and namespace of this replica',
    labelNames: ['version', 'namespace'] as const,
    registers,
  }).set({ version: deps.version, namespace: deps.config.MESH_NAMESPACE }, 1);

  new Gauge({
    name: 'mesh_inbox_capacity',
    help: 'INBOX_MAX: messages an inbox holds before sends to it are refused (429 inbox_full)',
    registers,
  }).set(deps.config.INBOX_MAX);

  // ---- Registry-wide gauges, read from Redis at scrape time -----------------------------------
  const redisUp = new Gauge({ name: 'mesh_redis_up', help: '1 when the scrape-time Redis read succeeded', registers });
  const g = (name: string, help: string) => new Gauge({ name, help, registers });
  const live = g('mesh_live_instances', 'Members whose heartbeat deadline is in the future (Redis time)');
  const registered = g('mesh_registered_instances', 'Members in the join index, lapsed ones not yet cleaned up included');
  const lapsed = g('mesh_lapsed_instances', 'Members whose heartbeat lapsed and that cleanup has not removed yet');
  const leaderPresent = g('mesh_leader_present', '1 when a live leader holds the seat');
  const term = g('mesh_leader_term', 'Current leader term (fencing token; +1 at every change of leader)');
  const leaderInfo = new Gauge({
    name: 'mesh_leader_info',
    help: 'Always 1, labelled with the current leader id (absent when there is no live leader)',
    labelNames: ['leader_id'] as const,
    registers,
  });
  const inboxTotal = g('mesh_inbox_messages', 'Messages waiting in inboxes (sum over the scanned inboxes; broadcasts not included)');
  const inboxMax = g('mesh_inbox_depth_max', 'Messages waiting in the fullest scanned inbox');
  const inboxScanned = g('mesh_inboxes_scanned', 'Inboxes looked at by the scrape (bounded; oldest first)');
  const inboxTruncated = g('mesh_inbox_scan_truncated', '1 when more inboxes hold messages than a scrape scans (depths are lower bounds)');
  const broadcastLen = g('mesh_broadcast_stream_length', 'Entries in the broadcast stream (not yet consumed by every member or expired)');
  const eventsLen = g('mesh_events_stream_length', 'Entries retained in the membership events stream (capped at EVENTS_MAXLEN)');
  const fromRedis = [
    live,
    registered,
    lapsed,
    leaderPresent,
    term,
    inboxTotal,
    inboxMax,
    inboxScanned,
    inboxTruncated,
    broadcastLen,
    eventsLen,
  ];

  async function readRedis(): Promise<void> {
    try {
      const s = await stats.snapshot();
      live.set(s.live);
      registered.set(s.registered);
      lapsed.set(s.lapsed);
      leaderPresent.set(s.leaderId === null ? 0 : 1);
      term.set(s.leaderTerm);
      leaderInfo.reset();
      if (s.leaderId !== null) leaderInfo.set({ leader_id: s.leaderId }, 1);
      inboxTotal.set(s.inboxTotal);
      inboxMax.set(s.inboxMax);
      inboxScanned.set(s.inboxesScanned);
      inboxTruncated.set(s.inboxTruncated ? 1 : 0);
      broadcastLen.set(s.broadcastLength);
      eventsLen.set(s.eventsLength);
      redisUp.set(1);
    } catch (err) {
      app.log.warn({ err }, 'metrics: scrape-time Redis read failed');
      // Report no value rather than a stale one.
      for (const m of fromRedis) m.reset();
      leaderInfo.reset();
      redisUp.set(0);
    }
  }

  const metricsToken = deps.config.METRICS_TOKEN ? new TokenSet([deps.config.METRICS_TOKEN]) : null;
  const proc = processMetricsRegistry();

  app.withTypeProvider<ZodTypeProvider>().get(
    '/metrics',
    {
      logLevel: 'warn',
      schema: {
        operationId: 'metrics',
        summary: 'Prometheus metrics (text exposition format 0.0.4)',
        description:
          'With METRICS_TOKEN set, needs `Authorization: Bearer <METRICS_TOKEN>`; otherwise the same bearer as a registry read (none in AUTH_MODE=none).',
        tags: ['operations'],
        response: {
          200: {
            description: 'Prometheus text format',
            content: { 'text/plain': { schema: z.string() } },
          },
          401: errorBody,
        },
      },
    },
    async (request, reply) => {
      const bearer = metricsToken ? bearerOf(request) : null;
      if (metricsToken && !(bearer !== null && metricsToken.has(bearer))) {
        // The error handler keeps headers set before the throw.
        reply.header('www-authenticate', 'Bearer realm="metrics"');
        throw errors.unauthorized('Missing or invalid metrics bearer token (METRICS_TOKEN)');
      }
      // The metrics name the leader and count the mesh: never more open than /registry/leader.
      if (!metricsToken) await deps.auth.forRead(request);
      await readRedis();
      const body = (await registry.metrics()) + (await proc.metrics());
      return reply.type(registry.contentType).send(body);
    },
  );
}

export default fp(metricsPlugin, { name: 'metrics', dependencies: ['errors'] });
