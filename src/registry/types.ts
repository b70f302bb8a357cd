// Wire types shared by the registry services, the HTTP layer and the client SDK. This file imports
// nothing, so the SDK can use it without pulling in server code. Field names are
// the spec-ai mesh contract (snake_case); additive fields are marked.

/** The message types of the spec-ai contract, in its PascalCase wire form (serde unit variants). */
export const BUILTIN_MESSAGE_TYPES = [
  'Query',
  'Response',
  'Notification',
  'TaskDelegation',
  'TaskResult',
  'GraphSync',
  'CapabilityUpdate',
  'CapabilityQuery',
  'LearningShare',
  'ProposalSubmit',
  'ProposalVote',
  'WorkflowAssignment',
  'WorkflowStageResult',
] as const;

export type BuiltinMessageType = (typeof BUILTIN_MESSAGE_TYPES)[number];

export type MessageType = BuiltinMessageType | { Custom: string };

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Heartbeat metrics: any JSON value by name, as the seed's `HashMap<String, serde_json::Value>`. */
export type Metrics = Record<string, Json>;

export interface MeshInstance {
  instance_id: string;
  hostname: string;
  port: number;
  capabilities: string[];
  is_leader: boolean;
  last_heartbeat: string;
  created_at: string;
  agent_profiles: string[];
  /** additive: last heartbeat status */
  status: string | null;
  /** additive: last heartbeat metrics */
  metrics: Metrics | null;
}

export interface LeaderInfo {
  leader_id: string | null;
  leader_term: number;
}

export interface AgentMessage {
  message_id: string;
  source_instance: string;
  target_instance: string | null;
  message_type: MessageType;
  payload: Json;
  correlation_id: string | null;
  created_at: string;
}
