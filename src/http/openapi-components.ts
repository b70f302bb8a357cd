// Names of the wire schemas in the OpenAPI document (`components.schemas`). Routes keep using the
// zod objects of schemas.ts / event-schemas.ts; the OpenAPI plugin turns every schema registered
// here into one named component and a `$ref` wherever a route uses it. Those components are the
// single source of the SDK's wire types (sdk/src/wire.gen.ts, `npm run gen:types`).
//
// A registry of our own rather than zod's global one: z.toJSONSchema (the fast serializer) reads
// the global registry and would start emitting $refs of its own.
//
// Every name yields two components: `Name` (what the server sends: defaults applied) and
// `NameInput` (what a client may send: fields with defaults are optional).
import { z } from 'zod';
import { AGENT_CARD_COMPONENTS } from '../a2a/agent-card.js';
import { eventsPage, meshEvent } from './event-schemas.js';
import {
  ackBody,
  agentMessage,
  agentsResponse,
  errorBody,
  healthResponse,
  heartbeatBody,
  heartbeatResponse,
  leaderResponse,
  meshInstance,
  messagesResponse,
  messageType,
  registerBody,
  registerResponse,
  requestBody,
  requestResponse,
  sendBody,
  sendResponse,
} from './schemas.js';

export const wireRegistry = z.registry<{ id: string }>();
// Descriptions and examples (`.meta({...})`) live in zod's global registry: let lookups in ours
// fall back to it, or the components would lose them. (fastify-type-provider-zod layers its
// input/output registries over ours the same way.)
class GlobalMetaFallback<K extends object, V> extends WeakMap<K, V> {
  override get(schema: K): V | undefined {
    return super.get(schema) ?? (z.globalRegistry.get(schema as never) as V | undefined);
  }
  override has(schema: K): boolean {
    return super.has(schema) || z.globalRegistry.has(schema as never);
  }
}
wireRegistry._map = new GlobalMetaFallback();

const named: [z.ZodType, string][] = [
  [messageType, 'MessageType'],
  [meshInstance, 'MeshInstance'],
  [agentMessage, 'AgentMessage'],
  [registerBody, 'RegisterRequest'],
  [registerResponse, 'RegisterResponse'],
  [agentsResponse, 'AgentsResponse'],
  [leaderResponse, 'LeaderInfo'],
  [heartbeatBody, 'HeartbeatRequest'],
  [heartbeatResponse, 'HeartbeatResponse'],
  [sendBody, 'SendRequest'],
  [sendResponse, 'SendResponse'],
  [messagesResponse, 'MessagesResponse'],
  [ackBody, 'AckRequest'],
  [requestBody, 'ServerRequestBody'],
  [requestResponse, 'ServerRequestResponse'],
  [healthResponse, 'HealthResponse'],
  [errorBody, 'ErrorBody'],
  [meshEvent, 'MeshEventRecord'],
  [eventsPage, 'EventsPage'],
];
for (const [schema, id] of [...named, ...AGENT_CARD_COMPONENTS]) wireRegistry.add(schema, { id });
