// The registry's wire types as the console reads them (see README "API" and /openapi.json). The
// console is a plain API client: the shapes it shares with the SDK come from the SDK's types,
// generated from the server's OpenAPI document (type-only imports: nothing of the SDK is bundled);
// the operator routes' answers, which the SDK does not wrap, are declared here.
import type { AgentsResponse, EventsPage, MeshEventRecord, MeshInstance } from '../../sdk/src/wire.gen';

export type { EventsPage, MeshInstance };
export type AgentsPage = AgentsResponse;
export type MeshEvent = MeshEventRecord;

/** An agent on screen: its record plus its inbox depth (null until first inspected). */
export interface Agent extends MeshInstance {
  pending: number | null;
  /** Skill ids and tags of its A2A Agent Card ([] without one); undefined until first inspected. */
  skills?: string[];
}

/** The parts of an A2A Agent Card the console shows (GET /registry/agents/{id}/agent-card). */
export interface AgentCard {
  name: string;
  description: string;
  version: string;
  supportedInterfaces: { url: string; protocolBinding: string; protocolVersion: string }[];
  skills: { id: string; name: string; description: string; tags: string[] }[];
}

export interface Stats {
  now: string;
  live: number;
  registered: number;
  lapsed: number;
  leader_id: string | null;
  leader_term: number;
  inbox_total: number;
  inbox_max: number;
  inboxes_scanned: number;
  inbox_truncated: boolean;
  broadcast_length: number;
  events_length: number;
  messages_sent: number;
  messages_acked: number;
  cleanup_runs: number;
  heartbeat_interval_ms: number;
  stale_timeout_ms: number;
  cleanup_interval_ms: number;
}

export interface InspectAnswer {
  now: string;
  instances: (MeshInstance & { pending: number; skills: string[] })[];
  missing: string[];
}

export interface PendingPage {
  instance_id: string;
  pending: number;
  message_ids: string[];
  next_cursor: string | null;
}

export interface Health {
  status: string;
  version: string;
  namespace: string;
}
