// The registry's wire types as the console reads them (see README "API" and /openapi.json). The
// console is a plain API client: it declares what it reads instead of importing server code.

export type Metrics = Record<string, string | number | boolean | null>;

export interface MeshInstance {
  instance_id: string;
  hostname: string;
  port: number;
  capabilities: string[];
  is_leader: boolean;
  last_heartbeat: string;
  created_at: string;
  agent_profiles: string[];
  status: string | null;
  metrics: Metrics | null;
}

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

export interface AgentsPage {
  instances: MeshInstance[];
  leader_id: string | null;
  leader_term: number;
  next_cursor: string | null;
}

export interface MeshEvent {
  id: string;
  /** joined | left | leader | updated; others are skipped (more may come). */
  type: string;
  instance_id: string;
  reason: string | null;
  term: number | null;
  what: string | null;
  status: string | null;
  at: string;
}

export interface EventsPage {
  events: MeshEvent[];
  last_id: string;
  gap: boolean;
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
