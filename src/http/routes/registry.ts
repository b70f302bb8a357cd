// /registry/*: register, heartbeat, deregister, listings and leader. Handlers only translate
// between HTTP and the InstanceService; all rules live in the Lua scripts behind it.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors } from '../../errors.js';
import type { InstanceService } from '../../registry/instances.js';
import { storedAgentCard } from '../../registry/agent-cards.js';
import { keepRawAgentCard, rawAgentCard } from '../a2a-body.js';
import type { Metrics } from '../../registry/types.js';
import type { Auth } from '../plugins/auth.js';
import { compileFastSerializer, fastSerializerCompiler } from '../serializer.js';
import {
  agentsQuery,
  agentsResponse,
  errorBody,
  heartbeatBody,
  heartbeatResponse,
  idParams,
  leaderResponse,
  meshInstance,
  registerBody,
  registerResponse,
} from '../schemas.js';

export interface RegistryRouteDeps {
  instances: InstanceService;
  auth: Auth;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const serializeRegisterAnswer = compileFastSerializer(registerResponse);
const serializeAgentsAnswer = compileFastSerializer(agentsResponse);

/**
 * Answers that carry a listing are serialized by their schema with an empty list, and the
 * listing's JSON text (InstanceService.listJson, ~300 bytes per live instance and the bulk of the
 * answer) is spliced in. Registrations that arrive together share one listing, so they share its
 * text too. The other fields are ids, numbers, booleans and tokens that cannot contain a quote,
 * so the empty list's `"field":[]` occurs exactly once.
 */
function splice(json: string, field: string, listJson: string): string {
  return json.replace(`"${field}":[]`, () => `"${field}":${listJson}`);
}

export const registryRoutes: FastifyPluginAsyncZod<RegistryRouteDeps> = async (app, { instances, auth }) => {
  app.post(
    '/registry/register',
    {
      schema: {
        operationId: 'register',
        summary: 'Register an instance (or refresh a live one)',
        tags: ['registry'],
        body: registerBody,
        response: { 200: registerResponse, 400: errorBody, 401: errorBody, 409: errorBody },
      },
      // The answer carries a bounded page of peers (REGISTER_PEERS_MAX), spliced in as JSON text.
      serializerCompiler: fastSerializerCompiler,
      // The A2A card is stored as sent: keep it before validation rebuilds it (a2a-body.ts).
      preValidation: keepRawAgentCard,
    },
    async (request, reply) => {
      const grant = auth.forRegister(request, request.body.instance_id);
      const { agent_card, ...fields } = request.body;
      const agentCard = agent_card ? storedAgentCard(rawAgentCard(request), agent_card) : null;
      const result = await instances.register({ ...fields, agentCard }, grant.ownership);
      const answer = serializeRegisterAnswer({
        success: true as const,
        instance_id: request.body.instance_id,
        is_leader: result.leader_id === request.body.instance_id,
        leader_id: result.leader_id,
        leader_term: result.leader_term,
        peers: [],
        peers_truncated: result.peers_truncated,
        peers_next_cursor: result.peers_next_cursor,
        instance_token: result.created ? grant.token : null,
      });
      // Already JSON: Fastify sends a string with a JSON content type as it is.
      return reply.type(JSON_TYPE).send(splice(answer, 'peers', result.peers_json) as never);
    },
  );

  app.get(
    '/registry/agents',
    {
      schema: {
        operationId: 'listAgents',
        summary: 'List live instances (oldest first)',
        tags: ['registry'],
        querystring: agentsQuery,
        response: { 200: agentsResponse, 400: errorBody, 401: errorBody },
      },
      serializerCompiler: fastSerializerCompiler,
    },
    async (request, reply) => {
      await auth.forRead(request);
      const { capability, skill, limit, cursor } = request.query;
      const { instances_json, leader_id, leader_term, next_cursor } = await instances.listJson({ capability, skill, limit, after: cursor });
      const answer = serializeAgentsAnswer({ instances: [], leader_id, leader_term, next_cursor });
      return reply.type(JSON_TYPE).send(splice(answer, 'instances', instances_json) as never);
    },
  );

  app.get(
    '/registry/agents/:id',
    {
      schema: {
        operationId: 'getAgent',
        summary: 'One live instance',
        tags: ['registry'],
        params: idParams,
        response: { 200: meshInstance, 404: errorBody, 401: errorBody },
      },
      serializerCompiler: fastSerializerCompiler,
    },
    async (request) => {
      await auth.forRead(request);
      const inst = await instances.get(request.params.id);
      if (!inst) throw errors.instanceNotFound(request.params.id);
      return inst;
    },
  );

  app.get(
    '/registry/leader',
    {
      schema: {
        operationId: 'getLeader',
        summary: 'Current leader and term',
        tags: ['registry'],
        response: { 200: leaderResponse, 401: errorBody },
      },
    },
    async (request) => {
      await auth.forRead(request);
      return instances.leader();
    },
  );

  app.post(
    '/registry/heartbeat/:id',
    {
      schema: {
        operationId: 'heartbeat',
        summary: 'Renew an instance; 404 means re-register',
        tags: ['registry'],
        params: idParams,
        body: heartbeatBody,
        response: { 200: heartbeatResponse, 404: heartbeatResponse, 400: errorBody, 401: errorBody, 403: errorBody },
      },
      serializerCompiler: fastSerializerCompiler,
      // The hottest route (every agent, every few seconds): its two info lines per request
      // ("incoming request", "request completed") were a large share of the replica's CPU and
      // most of the log volume (docs/performance.md). Warnings and errors on this route are still
      // logged; counts are in /metrics.
      logLevel: 'warn',
    },
    async (request, reply) => {
      await auth.forInstance(request, request.params.id);
      // Parsed from JSON, so every value is JSON (zod only types it as unknown).
      const r = await instances.heartbeat(request.params.id, request.body.status, (request.body.metrics ?? null) as Metrics | null);
      if (!r.found) reply.code(404);
      return { acknowledged: r.found, leader_id: r.leader_id, should_sync: false, leader_term: r.leader_term };
    },
  );

  app.delete(
    '/registry/deregister/:id',
    {
      schema: {
        operationId: 'deregister',
        summary: 'Remove an instance and its queues',
        tags: ['registry'],
        params: idParams,
        response: {
          204: z.null().meta({ description: 'Removed (empty body)' }),
          404: errorBody,
          401: errorBody,
          403: errorBody,
        },
      },
    },
    async (request, reply) => {
      const ownership = await auth.forInstance(request, request.params.id);
      const removed = await instances.deregister(request.params.id, ownership);
      // The contract's 404 has no body; seed clients only read the status, so it carries the same
      // JSON error as every other failure.
      if (!removed) throw errors.instanceNotFound(request.params.id);
      return reply.code(204).send(undefined as never);
    },
  );
};
