// GET /registry/events: the membership feed (joined / left / leader / updated) as server-sent
// events, resumable with Last-Event-ID (or ?since=), or as JSON pages for clients without SSE.
// Waiting costs no Redis connection: a WakeBus listener (registered before every read, so nothing
// that lands between a read and the wait is missed) re-reads the stream when a script's caller on
// any replica publishes an events notice.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../../config.js';
import type { EventFeed } from '../../registry/events.js';
import type { WakeBus } from '../../registry/wakeups.js';
import type { Auth } from '../plugins/auth.js';
import { eventsHeaders, eventsPage, eventsQuery } from '../event-schemas.js';
import { errorBody } from '../schemas.js';
import { openSse } from '../sse.js';

export interface EventRouteDeps {
  feed: EventFeed;
  wake: WakeBus;
  auth: Auth;
  config: Config;
}

/** Events read per XRANGE while streaming (a watcher resuming far back catches up in pages). */
const SSE_BATCH = 500;

export const eventRoutes: FastifyPluginAsyncZod<EventRouteDeps> = async (app, { feed, wake, auth, config }) => {
  app.get(
    '/registry/events',
    {
      schema: {
        operationId: 'events',
        summary: 'Membership feed: joined / left / leader / updated, resumable by event id',
        description:
          'Server-sent events by default: `id:` is the event id, `event:` its type, `data:` a MeshEvent. The first ' +
          'event, `ready`, carries the starting cursor (as its id, so an EventSource reconnect resumes from it) and ' +
          '`gap: true` when events after the requested id were trimmed from the capped feed. Without Last-Event-ID ' +
          'or `since` the feed starts from now; `since=0` replays everything retained. Keep-alive comments every ' +
          'SSE_KEEPALIVE_MS. With `format=json` one page `{events, last_id, gap}` is returned instead, waiting up to ' +
          '`wait` seconds for the first event.',
        tags: ['registry'],
        querystring: eventsQuery,
        headers: eventsHeaders,
        response: {
          200: {
            description: 'text/event-stream, or a JSON page with format=json',
            content: {
              'text/event-stream': {
                schema: z.string().meta({ description: 'events `ready`, `joined`, `left`, `leader`, `updated`, `error`' }),
              },
              'application/json': { schema: eventsPage },
            },
          },
          400: errorBody,
          401: errorBody,
        },
      },
    },
    async (request, reply) => {
      await auth.forRead(request);
      const q = request.query;
      // An EventSource reconnects to the same URL (same ?since=) plus Last-Event-ID: the header wins.
      const resumeFrom = request.headers['last-event-id'] ?? q.since;
      const waiter = wake.eventsWaiter();
      try {
        // The waiter exists before the cursor is read: a change right after it still wakes us.
        let cursor = resumeFrom ?? (await feed.lastId());
        const { gap } = resumeFrom === undefined ? { gap: false } : await feed.resumeInfo(cursor);

        if (q.format === 'json') {
          const deadline = Date.now() + Math.min(q.wait ?? 0, config.LONG_POLL_MAX_S) * 1000;
          let gone = false;
          const onGone = () => {
            gone = true;
            waiter.poke();
          };
          reply.raw.once('close', onGone);
          try {
            for (;;) {
              waiter.arm();
              const events = await feed.read(cursor, q.limit);
              if (events.length > 0 || Date.now() >= deadline || wake.isClosed || gone) {
                return reply.type('application/json; charset=utf-8').send({ events, last_id: events.at(-1)?.id ?? cursor, gap });
              }
              await waiter.sleep(deadline);
            }
          } finally {
            reply.raw.off('close', onGone);
          }
        }

        const sse = openSse(request, reply, config.SSE_KEEPALIVE_MS);
        sse.signal.addEventListener('abort', () => waiter.poke());
        try {
          sse.send({ id: cursor, event: 'ready', data: { type: 'ready', last_id: cursor, gap } });
          while (!sse.closed && !wake.isClosed) {
            waiter.arm();
            const batch = await feed.read(cursor, SSE_BATCH);
            for (const e of batch) {
              // A slow reader: let the socket drain before writing more (memory stays bounded).
              if (!sse.send({ id: e.id, event: e.type, data: e })) await sse.drained();
              cursor = e.id;
            }
            if (batch.length === SSE_BATCH) continue;
            await waiter.sleep();
          }
        } catch (err) {
          request.log.warn({ err }, 'events stream ended by error');
          // The cause stays in the log: Redis' own error text is not for clients.
          sse.send({ event: 'error', data: { error: 'The stream failed; reconnect to resume', code: 'stream_error' } });
        } finally {
          sse.end();
        }
        return reply;
      } finally {
        waiter.close();
      }
    },
  );
};
