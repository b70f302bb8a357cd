// Schemas of the operator read routes (GET /registry/stats, /registry/inspect,
// /registry/agents/{id}/pending): request validation, serialization and the OpenAPI document.
import { z } from 'zod';
import { INSPECT_MAX_IDS, PENDING_PAGE_MAX } from '../registry/inspect.js';
import { ID_PATTERN, meshInstance, timestamp } from './schemas.js';

const count = z.number().int().min(0);

export const statsResponse = z.object({
  now: timestamp.meta({ description: 'Redis TIME when the figures were read: compare heartbeats and rates with it' }),
  live: count.meta({ description: 'members whose heartbeat deadline is in the future' }),
  registered: count.meta({ description: 'members in the join index, lapsed ones not yet cleaned up included' }),
  lapsed: count.meta({ description: 'members whose deadline passed and that cleanup has not removed yet' }),
  leader_id: z.string().nullable(),
  leader_term: z.number().int(),
  inbox_total: count.meta({ description: 'pending targeted messages over the scanned inboxes' }),
  inbox_max: count.meta({ description: 'deepest scanned inbox' }),
  inboxes_scanned: count,
  inbox_truncated: z.boolean().meta({ description: 'more inboxes hold messages than one read scans: inbox figures are a lower bound' }),
  broadcast_length: count,
  events_length: count,
  messages_sent: count.meta({ description: 'mesh-wide, since the namespace was created: messages queued (a broadcast counts once)' }),
  messages_acked: count.meta({ description: 'mesh-wide: message copies acknowledged by their recipient' }),
  cleanup_runs: count.meta({ description: 'mesh-wide: maintenance ticks run, by any replica' }),
  heartbeat_interval_ms: z.number().int(),
  stale_timeout_ms: z.number().int().meta({ description: 'a member without heartbeat for this long lapses' }),
  cleanup_interval_ms: z.number().int(),
});

const idList = z
  .string()
  .max(INSPECT_MAX_IDS * 129)
  .transform((s) => [...new Set(s.split(',').filter((p) => p !== ''))])
  .pipe(
    z
      .array(z.string().regex(ID_PATTERN, 'must be instance ids'))
      .min(1, 'at least one id')
      .max(INSPECT_MAX_IDS, `at most ${INSPECT_MAX_IDS} ids`),
  );

export const inspectQuery = z.object({
  ids: idList.meta({ description: `comma-separated instance ids, at most ${INSPECT_MAX_IDS}`, example: 'worker-1,worker-2' }),
});

export const inspectedInstance = meshInstance.extend({
  pending: count.meta({ description: 'messages waiting in its inbox (targeted; not its broadcast backlog)' }),
  skills: z
    .array(z.string())
    .meta({ description: 'skill ids and tags of its A2A Agent Card (GET /registry/agents/{id}/agent-card); empty without a card' }),
});

export const inspectResponse = z.object({
  now: timestamp.meta({ description: 'Redis TIME of the read' }),
  instances: z.array(inspectedInstance).meta({ description: 'the live ones among the ids, in the order asked' }),
  missing: z.array(z.string()).meta({ description: 'ids that are not live (unknown, deregistered or lapsed)' }),
});

export const pendingQuery = z.object({
  limit: z.coerce.number().int().min(1).max(PENDING_PAGE_MAX).default(PENDING_PAGE_MAX).meta({ description: 'page size' }),
  cursor: z
    .string()
    .regex(/^\d{1,20}-\d{1,20}$/, 'must be a next_cursor value from a previous page')
    .optional()
    .meta({ description: 'next_cursor of the previous page' }),
});

export const pendingResponse = z.object({
  instance_id: z.string(),
  pending: count.meta({ description: 'messages waiting in the inbox' }),
  message_ids: z.array(z.string()).meta({ description: 'this page, oldest first' }),
  next_cursor: z.string().nullable().meta({ description: 'set when more pages follow' }),
});
