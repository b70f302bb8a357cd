// Additive read routes for operators and dashboards (the console at /ui uses them): mesh totals
// from Redis, a batch view of the members on screen, and a member's pending message ids. All of
// it is read from Redis, so every replica gives the same answer; every call does bounded work.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Config } from '../../config.js';
import { errors } from '../../errors.js';
import { isoFromMs } from '../../registry/iso-time.js';
import type { MeshCounters } from '../../registry/counters.js';
import type { InboxInspector } from '../../registry/inspect.js';
import type { AgentCardService } from '../../registry/agent-cards.js';
import type { InstanceService } from '../../registry/instances.js';
import type { RegistryStats } from '../../registry/stats.js';
import type { Auth } from '../plugins/auth.js';
import { inspectQuery, inspectResponse, pendingQuery, pendingResponse, statsResponse } from '../operator-schemas.js';
import { errorBody, idParams } from '../schemas.js';

export interface OperatorRouteDeps {
  config: Config;
  auth: Auth;
  instances: InstanceService;
  stats: RegistryStats;
  counters: MeshCounters;
  inspector: InboxInspector;
  /** A2A cards: the skills each inspected instance indexed. */
  cards: AgentCardService;
}

export const operatorRoutes: FastifyPluginAsyncZod<OperatorRouteDeps> = async (app, deps) => {
  const { config, auth, instances, stats, counters, inspector, cards } = deps;

  app.get(
    '/registry/stats',
    {
      schema: {
        summary: 'Mesh totals read from Redis: members, leader, inbox depth, messages sent/acked, cleanup runs',
        operationId: 'getStats',
        description:
          'The same figures from every replica. Counters are totals since the namespace was created: sample twice ' +
          'and divide by the difference of `now` for rates.',
        tags: ['registry'],
        response: { 200: statsResponse, 401: errorBody },
      },
    },
    async (request) => {
      await auth.forRead(request);
      const [s, c] = await Promise.all([stats.snapshot(), counters.read()]);
      return {
        now: isoFromMs(c.now),
        live: s.live,
        registered: s.registered,
        lapsed: s.lapsed,
        leader_id: s.leaderId,
        leader_term: s.leaderTerm,
        inbox_total: s.inboxTotal,
        inbox_max: s.inboxMax,
        inboxes_scanned: s.inboxesScanned,
        inbox_truncated: s.inboxTruncated,
        broadcast_length: s.broadcastLength,
        events_length: s.eventsLength,
        messages_sent: c.sent,
        messages_acked: c.acked,
        cleanup_runs: c.cleanupRuns,
        heartbeat_interval_ms: config.HEARTBEAT_INTERVAL_MS,
        stale_timeout_ms: config.STALE_TIMEOUT_MS,
        cleanup_interval_ms: config.CLEANUP_INTERVAL_MS,
      };
    },
  );

  app.get(
    '/registry/inspect',
    {
      schema: {
        summary: 'Live records and inbox depths of up to 200 instances (dashboards refresh the rows on screen)',
        operationId: 'inspectAgents',
        tags: ['registry'],
        querystring: inspectQuery,
        response: { 200: inspectResponse, 401: errorBody },
      },
    },
    async (request) => {
      await auth.forRead(request);
      const ids = request.query.ids;
      // counters.read() is here for its Redis TIME: heartbeat ages are measured against it.
      const [records, depths, sample, skills] = await Promise.all([
        Promise.all(ids.map((id) => instances.get(id))),
        inspector.depths(ids),
        counters.read(),
        cards.indexedSkills(ids),
      ]);
      const found = [];
      const missing: string[] = [];
      for (let i = 0; i < ids.length; i++) {
        const r = records[i];
        if (r) found.push({ ...r, pending: depths[i]!, skills: skills[i]! });
        else missing.push(ids[i]!);
      }
      return { now: isoFromMs(sample.now), instances: found, missing };
    },
  );

  app.get(
    '/registry/agents/:id/pending',
    {
      schema: {
        summary: "Ids of the messages waiting in an instance's inbox, a page at a time",
        operationId: 'listPendingMessageIds',
        description:
          "AUTH_MODE=instance: needs that instance's token or an admin token. Targeted messages only (not the " + 'broadcast backlog).',
        tags: ['registry'],
        params: idParams,
        querystring: pendingQuery,
        response: { 200: pendingResponse, 401: errorBody, 403: errorBody, 404: errorBody },
      },
    },
    async (request) => {
      const { id } = request.params;
      await auth.forInstance(request, id);
      const page = await inspector.pendingIds(id, request.query.limit, request.query.cursor ?? null);
      if (!page) throw errors.instanceNotFound(id);
      return { instance_id: id, ...page };
    },
  );
};
