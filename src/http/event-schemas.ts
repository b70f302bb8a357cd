// Schemas of the membership feed (GET /registry/events): request validation, the JSON form's
// response and the OpenAPI document all come from these.
import { z } from 'zod';
import { STREAM_ID, isStreamId } from '../registry/stream-ids.js';

export const streamId = z
  .string()
  .regex(STREAM_ID, 'must be an event id (`<ms>-<seq>`) or 0')
  .refine(isStreamId, 'must be an event id whose parts are at most 2^64-1')
  .meta({ description: 'Event id (Redis stream id)', example: '1764237600123-0' });

export const eventsQuery = z.object({
  since: streamId.optional().meta({
    description:
      'Deliver events strictly after this id (0 = all retained history). Default: from now. ' +
      'A Last-Event-ID header (EventSource reconnect) takes precedence.',
  }),
  format: z
    .enum(['sse', 'json'])
    .default('sse')
    .meta({ description: 'sse (default): text/event-stream; json: one page {events, last_id} (long-polls with wait)' }),
  wait: z.coerce
    .number()
    .min(0)
    .max(60)
    .optional()
    .meta({ description: 'format=json only: seconds to wait for the first event when none is pending' }),
  limit: z.coerce.number().int().min(1).max(1000).default(100).meta({ description: 'format=json only: page size' }),
});

/** Extra headers pass through untouched (auth, tracing): only Last-Event-ID is checked. */
export const eventsHeaders = z.looseObject({
  'last-event-id': streamId.optional().meta({ description: 'Resume after this id (sent by EventSource on reconnect)' }),
});

export const meshEvent = z
  .object({
    id: z.string().meta({ description: 'event id: the SSE `id:` and the resume cursor' }),
    type: z.string().meta({ description: 'joined | left | leader | updated (also the SSE `event:` name)' }),
    instance_id: z.string(),
    reason: z.string().nullable().meta({ description: 'left: deregistered | expired' }),
    term: z.number().int().nullable().meta({ description: 'leader: the new term' }),
    what: z.string().nullable().meta({ description: 'updated: registration | status' }),
    status: z.string().nullable().meta({ description: 'updated with what=status: the new status' }),
    agent_card: z
      .boolean()
      .nullable()
      .meta({ description: 'additive; joined, updated with what=registration: whether the instance registered an A2A Agent Card' }),
    at: z.string().meta({ description: 'RFC 3339 UTC time Redis recorded the change (from the id)' }),
  })
  .meta({ description: 'One membership change' });

export const eventsPage = z.object({
  events: z.array(meshEvent),
  last_id: z.string().meta({ description: 'pass as `since` to get the next page (the last event id, or the cursor used)' }),
  gap: z.boolean().meta({ description: 'true when events after `since` were trimmed from the capped feed: re-read /registry/agents' }),
});

export const sseReady = z.object({
  type: z.literal('ready'),
  last_id: z.string(),
  gap: z.boolean(),
});
