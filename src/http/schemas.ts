// Request and response schemas: the same zod objects validate requests, serialize responses and
// generate the OpenAPI document. Field names are spec-ai's wire contract (its mesh.rs types).
import { z } from 'zod';
import { agentCard, skillValue } from '../a2a/agent-card.js';
import { BUILTIN_MESSAGE_TYPES } from '../registry/types.js';

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** Capability and profile names end up in Redis key names: keep them to a safe charset. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$/;
const HOSTNAME_PATTERN =
  /^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export const instanceId = z
  .string()
  .regex(ID_PATTERN, 'must be 1-128 chars of letters, digits, . _ : - and start with a letter or digit')
  .meta({ description: 'Instance id', example: 'worker-1' });

export const idParams = z.object({ id: instanceId });
export const sourceParams = z.object({ source_id: instanceId });

const name = z.string().regex(NAME_PATTERN, 'must be 1-128 chars of letters, digits, . _ : / @ + -');

export const hostname = z.union([z.string().regex(HOSTNAME_PATTERN, 'must be an RFC 1123 hostname (max 253 chars)'), z.ipv4(), z.ipv6()], {
  error: 'must be an RFC 1123 hostname (max 253 chars) or an IP address',
});

export const timestamp = z.string().meta({ description: 'RFC 3339 UTC timestamp', example: '2026-11-27T10:00:00.123Z' });

/** Nesting allowed in heartbeat metrics (seed: `HashMap<String, serde_json::Value>`). */
export const METRICS_MAX_DEPTH = 8;
export const METRICS_MAX_BYTES = 4096;
// Any JSON value per key, like the seed; bounded in keys, bytes and depth, because every listing
// carries the metrics of every instance it returns.
export const metrics = z
  .record(z.string().min(1).max(128), z.unknown())
  // One pass for the three limits (every heartbeat carries metrics: three refinements and a
  // TextEncoder copy were a visible share of the route's CPU).
  .superRefine((m, ctx) => {
    let keys = 0;
    let flat = true;
    for (const k in m) {
      keys++;
      const v = m[k];
      if (v !== null && typeof v === 'object') flat = false;
    }
    if (keys > 64) ctx.addIssue({ code: 'custom', message: 'at most 64 keys' });
    if (!flat && !jsonDepthWithin(m, METRICS_MAX_DEPTH)) {
      ctx.addIssue({ code: 'custom', message: `must not nest deeper than ${METRICS_MAX_DEPTH} levels` });
    }
    // Bytes, not UTF-16 units: 4096 non-ASCII characters would otherwise store up to 12 KiB.
    if (Buffer.byteLength(JSON.stringify(m)) > METRICS_MAX_BYTES) {
      ctx.addIssue({ code: 'custom', message: `at most ${METRICS_MAX_BYTES} bytes when serialized` });
    }
  })
  .meta({
    description: 'any JSON values by name (at most 64 keys, 4 KiB, 8 levels)',
    example: { load: 0.2, tasks: { running: 2, queued: [1, 2] } },
  });

export const meshInstance = z.object({
  instance_id: z.string(),
  hostname: z.string(),
  port: z.number().int(),
  capabilities: z.array(z.string()),
  is_leader: z.boolean(),
  last_heartbeat: timestamp,
  created_at: timestamp,
  agent_profiles: z.array(z.string()),
  status: z.string().nullable().meta({ description: 'additive: status from the last heartbeat' }),
  metrics: z.record(z.string(), z.unknown()).nullable().meta({ description: 'additive: metrics from the last heartbeat, as sent' }),
});

const leaderFields = {
  leader_id: z.string().nullable(),
  leader_term: z.number().int().meta({ description: 'additive: fencing token, +1 at every change of leader' }),
};

export const registerBody = z.object({
  instance_id: instanceId,
  hostname,
  port: z.number().int().min(1).max(65535),
  capabilities: z.array(name).max(64),
  agent_profiles: z.array(name).max(64),
  agent_card: agentCard
    .nullable()
    .optional()
    .meta({ description: "additive: the instance's A2A v1.0 Agent Card, served as registered at GET /registry/agents/{id}/agent-card" }),
});

export const registerResponse = z.object({
  success: z.literal(true),
  instance_id: z.string(),
  is_leader: z.boolean(),
  ...leaderFields,
  peers: z.array(meshInstance).meta({
    description: 'live peers in join order, the caller included: at most REGISTER_PEERS_MAX (the first page of GET /registry/agents)',
  }),
  peers_truncated: z.boolean().meta({ description: 'additive: true when more live peers exist than `peers` carries' }),
  peers_next_cursor: z
    .string()
    .nullable()
    .meta({ description: 'additive: pass as `cursor` to GET /registry/agents for the peers after these' }),
  instance_token: z.string().nullable().meta({ description: 'additive: AUTH_MODE=instance only' }),
});

export const agentsQuery = z
  .object({
    capability: name.optional(),
    skill: skillValue
      .optional()
      .meta({ description: 'additive: only instances whose A2A Agent Card has a skill with this id or tag (not with capability)' }),
    limit: z.coerce.number().int().min(1).max(10000).optional().meta({ description: 'additive: page size' }),
    cursor: z
      .string()
      .regex(/^\d{1,18}$/, 'must be a next_cursor value from a previous page')
      .optional()
      .meta({ description: 'additive: next_cursor of the previous page' }),
  })
  .refine((q) => q.capability === undefined || q.skill === undefined, {
    message: 'use either capability or skill, not both',
    path: ['skill'],
  });

export const agentsResponse = z.object({
  instances: z.array(meshInstance),
  ...leaderFields,
  next_cursor: z.string().nullable().meta({ description: 'additive: set when more pages follow' }),
});

export const leaderResponse = z.object(leaderFields);

export const heartbeatBody = z.object({
  status: z.string().max(64),
  metrics: metrics.nullable().optional(),
});

export const heartbeatResponse = z.object({
  acknowledged: z.boolean(),
  leader_id: z.string().nullable(),
  should_sync: z.boolean(),
  leader_term: z.number().int(),
});

export { BUILTIN_MESSAGE_TYPES };

export const messageType = z.union([z.enum(BUILTIN_MESSAGE_TYPES), z.object({ Custom: z.string().min(1).max(128) }).strict()]);

const MAX_JSON_DEPTH = 64;
/** Deepest request body that can be valid: a payload of MAX_JSON_DEPTH levels inside its envelope. */
export const JSON_BODY_MAX_DEPTH = MAX_JSON_DEPTH + 1;

/** Iterative depth check: recursion on hostile input (deeply nested arrays) must not blow the stack. */
export function jsonDepthWithin(value: unknown, max = MAX_JSON_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d > max) return false;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return true;
}

export const payload = z
  .unknown()
  .refine((v) => v !== undefined, 'is required (it may be null)')
  .refine((v) => jsonDepthWithin(v), `must not nest deeper than ${MAX_JSON_DEPTH} levels`)
  .meta({ description: 'any JSON value, null allowed' });

export const correlationId = z.string().min(1).max(128).nullable().optional();

export const sendBody = z.object({
  target_instance: instanceId.nullable().optional(),
  message_type: messageType,
  payload,
  correlation_id: correlationId,
  target_capability: name.nullable().optional().meta({
    description: 'additive: route to the least-loaded live holder of this capability, or of an A2A card skill with this id or tag',
  }),
});

export const sendResponse = z.object({
  message_id: z.string(),
  status: z.literal('queued'),
  delivered_to: z.array(z.string()),
});

export const agentMessage = z.object({
  message_id: z.string(),
  source_instance: z.string(),
  target_instance: z.string().nullable(),
  message_type: messageType,
  payload: z.unknown(),
  correlation_id: z.string().nullable(),
  created_at: timestamp,
});

export const fetchQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  wait: z.coerce.number().min(0).max(60).optional().meta({ description: 'additive: long-poll seconds (max 60)' }),
});

export const messagesResponse = z.object({ messages: z.array(agentMessage) });

export const ackBody = z.object({
  message_ids: z.array(z.string().max(128)).max(1000),
});

export const requestBody = z.object({
  target_instance: instanceId.nullable().optional(),
  target_capability: name.nullable().optional(),
  message_type: messageType.default('Query'),
  payload,
  timeout_ms: z.number().int().min(1).max(60_000).default(30_000),
});

export const requestResponse = z.object({
  request: sendResponse,
  response: agentMessage,
});

export const errorBody = z
  .object({ error: z.string(), code: z.string() })
  .catchall(z.unknown())
  .meta({ description: 'every error: human message and stable machine code' });

export const healthResponse = z.object({
  status: z.literal('ok'),
  version: z.string(),
  uptime_seconds: z.number(),
  active_sessions: z.number().int().meta({ description: 'live instances in this namespace' }),
  namespace: z.string(),
  redis: z.string(),
});

export const probeResponse = z.object({ status: z.string() }).catchall(z.unknown());
