// Request and response bodies of the HTTP API as the client sees them. The entity types come from
// src/registry/types.ts (type-only import: nothing of the server is loaded at runtime); the
// envelopes mirror src/http/schemas.ts without pulling zod into the client bundle.
import type { AgentMessage, Json, LeaderInfo, MeshInstance, MessageType, Metrics } from '../registry/types.js';

export type { AgentMessage, BuiltinMessageType, Json, LeaderInfo, MeshInstance, MessageType, Metrics } from '../registry/types.js';

export interface RegisterRequest {
  instance_id: string;
  hostname: string;
  port: number;
  capabilities: string[];
  agent_profiles: string[];
}

export interface RegisterResponse extends LeaderInfo {
  success: true;
  instance_id: string;
  is_leader: boolean;
  /** Includes the caller. */
  peers: MeshInstance[];
  /** AUTH_MODE=instance: the token for this instance's own calls (only when newly created). */
  instance_token: string | null;
}

export interface AgentsQuery {
  capability?: string;
  limit?: number;
  cursor?: string;
}

export interface AgentsResponse extends LeaderInfo {
  instances: MeshInstance[];
  /** Set when more pages follow (pass it back as `cursor`). */
  next_cursor: string | null;
}

export interface HeartbeatRequest {
  status: string;
  metrics?: Metrics | null;
}

export interface HeartbeatResponse extends LeaderInfo {
  /** false (HTTP 404): the registry does not know this id any more; register again. */
  acknowledged: boolean;
  should_sync: boolean;
}

export interface SendRequest {
  /** null: broadcast (or capability-routed when `target_capability` is set). */
  target_instance: string | null;
  message_type: MessageType;
  payload: Json;
  correlation_id: string | null;
  /** additive: deliver to the least-loaded live holder of this capability. */
  target_capability?: string | null;
}

export interface SendResponse {
  message_id: string;
  status: 'queued';
  delivered_to: string[];
}

export interface MessagesResponse {
  messages: AgentMessage[];
}

export interface ServerRequestBody {
  target_instance?: string | null;
  target_capability?: string | null;
  /** Default Query. */
  message_type?: MessageType;
  payload: Json;
  /** Default 30000, max 60000. */
  timeout_ms?: number;
}

export interface ServerRequestResponse {
  request: SendResponse;
  response: AgentMessage;
}

export interface HealthResponse {
  status: 'ok';
  version: string;
  uptime_seconds: number;
  active_sessions: number;
  namespace: string;
  redis: string;
}

/** JSON error body of every non-2xx answer. */
export interface ErrorBody {
  error: string;
  code: string;
  [extra: string]: unknown;
}

/**
 * One entry of the membership feed (GET /registry/events, when the server has it). `type` is
 * joined | left | leader | updated (others are passed through); `data` is the event's JSON.
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
