// The registry's own A2A Agent Card, served at GET /.well-known/agent-card.json (A2A spec 8.2: the
// well-known URI of a server). The registry is not an A2A agent that takes tasks: the card presents
// it as a catalog of agents (spec 8.2 "Registries/Catalogs") - what it offers as skills, where its
// HTTP API and its OpenAPI description are, and how to authenticate. It is valid against the same
// zod model as the cards agents register (test/unit/a2a/registry-card.test.ts).
import type { AgentCard } from './agent-card.js';
import { A2A_PROTOCOL_VERSION } from './agent-card.js';

/**
 * The registry's HTTP API as a protocol binding. A2A lets `protocolBinding` name a custom binding
 * and asks for a URI (spec 5.8); this one identifies the agent-mesh registry API, version 1, whose
 * description is the OpenAPI document at `<base>/openapi.json`.
 */
export const REGISTRY_PROTOCOL_BINDING = 'urn:agent-mesh:registry-http:v1';
/** Extension naming where the catalog's operations are (params hold the URLs). */
export const CATALOG_EXTENSION_URI = 'urn:agent-mesh:a2a-catalog:v1';

export interface RegistryCardOptions {
  /** Base URL clients reach this registry at (no trailing slash). */
  baseUrl: string;
  version: string;
  namespace: string;
  authMode: 'none' | 'token' | 'instance';
}

export function registryAgentCard({ baseUrl, version, namespace, authMode }: RegistryCardOptions): AgentCard {
  const api = (path: string) => `${baseUrl}${path}`;
  const card: AgentCard = {
    name: `agent-mesh registry (${namespace})`,
    description:
      'Registry and message mesh for AI agents. Agents register with their A2A Agent Card and stay listed while ' +
      'they heartbeat; clients find live agents by skill id or tag, read their cards, and send them messages ' +
      'routed to the least-loaded agent with a skill. One leader is elected among the live agents.',
    supportedInterfaces: [{ url: baseUrl, protocolBinding: REGISTRY_PROTOCOL_BINDING, protocolVersion: A2A_PROTOCOL_VERSION }],
    version,
    documentationUrl: api('/docs'),
    capabilities: {
      streaming: false,
      pushNotifications: false,
      extendedAgentCard: false,
      extensions: [
        {
          uri: CATALOG_EXTENSION_URI,
          description: 'A2A catalog: the Agent Cards of the live members of this mesh, searchable by skill id or tag',
          required: false,
          params: {
            openapi: api('/openapi.json'),
            searchBySkill: api('/registry/agents?skill={skill}'),
            agentCard: api('/registry/agents/{instance_id}/agent-card'),
            register: api('/registry/register'),
            events: api('/registry/events'),
          },
        },
      ],
    },
    defaultInputModes: ['application/json'],
    defaultOutputModes: ['application/json', 'text/event-stream'],
    skills: [
      {
        id: 'agent-discovery',
        name: 'Find agents by skill',
        description:
          'Lists the live agents whose Agent Card has a skill with the given id or tag (paged, oldest member first), ' +
          "and serves each live agent's card as registered.",
        tags: ['a2a', 'discovery', 'agent-card', 'catalog', 'registry'],
        examples: ['GET /registry/agents?skill=translate', 'GET /registry/agents/{instance_id}/agent-card'],
        inputModes: ['application/json'],
        outputModes: ['application/json'],
      },
      {
        id: 'agent-registration',
        name: 'Register an agent and its Agent Card',
        description:
          'Registers an agent with its capabilities and optional A2A Agent Card; the agent stays listed while it ' +
          'heartbeats, and its card and skill index entries go when it leaves or lapses.',
        tags: ['registry', 'registration', 'liveness', 'leader-election'],
        examples: ['POST /registry/register {"instance_id": "translator-1", ..., "agent_card": {...}}'],
        inputModes: ['application/json'],
        outputModes: ['application/json'],
      },
      {
        id: 'skill-routing',
        name: 'Route a message by skill',
        description:
          'Queues a message for the least-loaded live agent that has the capability, or a card skill with that id or ' +
          'tag (target_capability), or for one agent, or for every agent (broadcast).',
        tags: ['messaging', 'routing', 'load-balancing', 'broadcast'],
        examples: ['POST /messages/send/{source_id} {"target_instance": null, "target_capability": "translate", ...}'],
        inputModes: ['application/json'],
        outputModes: ['application/json'],
      },
      {
        id: 'membership-events',
        name: 'Follow membership changes',
        description: 'A resumable feed of agents joining, leaving and changing, and of leader elections.',
        tags: ['events', 'membership', 'sse'],
        examples: ['GET /registry/events'],
        inputModes: ['application/json'],
        outputModes: ['text/event-stream', 'application/json'],
      },
    ],
  };
  if (authMode !== 'none') {
    card.securitySchemes = {
      bearer: {
        httpAuthSecurityScheme: {
          scheme: 'Bearer',
          description:
            authMode === 'token'
              ? 'A shared token (AUTH_TOKENS) on every call except this card, /health and the docs'
              : 'Register with a registration token; then the instance token the register answer returns',
        },
      },
    };
    card.securityRequirements = [{ schemes: { bearer: { list: [] } } }];
  }
  return card;
}
