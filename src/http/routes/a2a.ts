// A2A discovery: a live member's Agent Card as it registered it, and the registry's own card at the
// well-known URI. Listing members by skill is GET /registry/agents?skill= (registry.ts), routing by
// skill is target_capability (messages).
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { agentCard } from '../../a2a/agent-card.js';
import { registryAgentCard } from '../../a2a/registry-card.js';
import type { Config } from '../../config.js';
import { errors } from '../../errors.js';
import type { AgentCardService } from '../../registry/agent-cards.js';
import type { Auth } from '../plugins/auth.js';
import { errorBody, idParams } from '../schemas.js';

export interface A2aRouteDeps {
  config: Config;
  auth: Auth;
  cards: AgentCardService;
  version: string;
}

export const WELL_KNOWN_AGENT_CARD = '/.well-known/agent-card.json';
const JSON_TYPE = 'application/json; charset=utf-8';
/** How long a client may reuse the registry's card (A2A spec 8.6: SHOULD send max-age). */
const REGISTRY_CARD_MAX_AGE_S = 300;
/** Host header values used to build links: a host name or address and an optional port. */
const SAFE_HOST = /^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?$/;

const notModified = z.null().meta({ description: 'Not modified: the ETag sent in If-None-Match still matches (empty body)' });

function etagOf(json: string): string {
  return `"${createHash('sha256').update(json).digest('base64url').slice(0, 27)}"`;
}

/** Whether If-None-Match lists `etag` (or `*`); weak validators compare equal (RFC 9110 13.1.2). */
function matches(request: FastifyRequest, etag: string): boolean {
  const header = request.headers['if-none-match'];
  if (!header) return false;
  return header.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}

/** Sends a JSON text with its ETag, or 304 when the client has it already. */
function sendCard(request: FastifyRequest, reply: FastifyReply, json: string, cacheControl: string) {
  const etag = etagOf(json);
  reply.header('etag', etag).header('cache-control', cacheControl);
  if (matches(request, etag)) return reply.code(304).send();
  // Already JSON: Fastify sends a string with a JSON content type as it is.
  return reply.type(JSON_TYPE).send(json);
}

export const a2aRoutes: FastifyPluginAsyncZod<A2aRouteDeps> = async (app, { config, auth, cards, version }) => {
  app.get(
    '/registry/agents/:id/agent-card',
    {
      schema: {
        operationId: 'getAgentCard',
        summary: "A live instance's A2A Agent Card, exactly as registered",
        description:
          'The `agent_card` the instance sent with its registration. 404 `instance_not_found` when the instance is ' +
          'not live, 404 `agent_card_not_found` when it registered without a card. Sent with an ETag; ' +
          'If-None-Match answers 304 while the card is unchanged.',
        tags: ['a2a'],
        params: idParams,
        response: { 200: agentCard, 304: notModified, 401: errorBody, 404: errorBody },
      },
    },
    async (request, reply) => {
      await auth.forRead(request);
      const { id } = request.params;
      const found = await cards.get(id);
      if (found.found === 'not-live') throw errors.instanceNotFound(id);
      if (found.found === 'no-card') throw errors.agentCardNotFound(id);
      // Revalidate on every use: the instance may leave or re-register with another card any time.
      return sendCard(request, reply, found.json, 'no-cache');
    },
  );

  // The card only changes with the base URL (PUBLIC_URL, else the Host a client used).
  const registryCards = new Map<string, string>();
  const registryCardJson = (baseUrl: string): string => {
    let json = registryCards.get(baseUrl);
    if (json === undefined) {
      json = JSON.stringify(registryAgentCard({ baseUrl, version, namespace: config.MESH_NAMESPACE, authMode: config.AUTH_MODE }));
      // A client sending random Host headers must not grow this without bound.
      if (registryCards.size >= 64) registryCards.clear();
      registryCards.set(baseUrl, json);
    }
    return json;
  };

  app.get(
    WELL_KNOWN_AGENT_CARD,
    {
      schema: {
        operationId: 'getRegistryAgentCard',
        summary: "The registry's own A2A Agent Card: an A2A-discoverable catalog of agents",
        description:
          'Public in every AUTH_MODE (A2A discovery happens before authentication). Its links use PUBLIC_URL, or ' +
          'the Host the request was sent to. The `urn:agent-mesh:a2a-catalog:v1` extension lists where the catalog ' +
          'operations are.',
        tags: ['a2a'],
        response: { 200: agentCard, 304: notModified },
      },
      config: { auth: 'public' },
    },
    async (request, reply) => {
      const host = SAFE_HOST.test(request.host) ? request.host : 'localhost';
      const baseUrl = config.PUBLIC_URL ?? `${request.protocol}://${host}`;
      return sendCard(request, reply, registryCardJson(baseUrl), `public, max-age=${REGISTRY_CARD_MAX_AGE_S}`);
    },
  );
};
