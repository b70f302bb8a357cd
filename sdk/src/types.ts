// Request and response bodies of the HTTP API as the client sees them. The wire types are
// generated from the server's OpenAPI document (wire.gen.ts, `npm run gen:types`), so they cannot
// drift from the zod schemas that validate and serialize them; this file only adds the
// client-side shapes (query options, the parsed membership event).
import type { MeshInstance, MessageType } from './wire.gen.js';

export type {
  AckRequest,
  AgentCapabilities,
  AgentCard,
  AgentCardSignature,
  AgentExtension,
  AgentInterface,
  AgentMessage,
  AgentProvider,
  AgentSkill,
  AgentsResponse,
  ErrorBody,
  EventsPage,
  HealthResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  Json,
  LeaderInfo,
  MeshEventRecord,
  MeshInstance,
  MessageType,
  MessagesResponse,
  OAuthFlows,
  Operations,
  RegisterRequest,
  RegisterResponse,
  SendRequest,
  SecurityRequirement,
  SecurityScheme,
  SendResponse,
  ServerRequestBody,
  ServerRequestResponse,
} from './wire.gen.js';

/** "Query", "Response", ...: the message types without a payload name. */
export type BuiltinMessageType = Exclude<MessageType, { Custom: string }>;

/** What a heartbeat reports besides its status (stored and shown as the instance's `metrics`). */
export type Metrics = NonNullable<MeshInstance['metrics']>;

/** Query of GET /registry/agents. */
export interface AgentsQuery {
  capability?: string;
  /** A2A skill id or tag: instances whose Agent Card has it (not together with `capability`). */
  skill?: string;
  /** Page size (1..10000). */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

/**
 * One entry of the membership feed (GET /registry/events), as the client yields it. `type` is
 * joined | left | leader | updated (others are passed through); `data` is the event's JSON
 * (a MeshEventRecord from this registry).
 */
export interface MeshEvent {
  /** SSE event id (resume point), when the server sent one. */
  id: string | null;
  type: string;
  instance_id: string | null;
  /** Only for `leader` events. */
  term: number | null;
  data: Record<string, unknown>;
}
