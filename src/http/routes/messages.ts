// /messages/*: send, fetch (optionally long-poll), ack, SSE stream and request/response.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { errors } from '../../errors.js';
import type { FetchPage, MessageService, PendingMessage } from '../../registry/messages.js';
import type { SendRateLimiter } from '../../registry/ratelimit.js';
import type { WakeBus } from '../../registry/wakeups.js';
import type { Auth } from '../plugins/auth.js';
import { fastSerializerCompiler } from '../serializer.js';
import { REPLAYED_HEADER, idempotencyHeaders, idempotencyOf } from '../idempotency-schemas.js';
import { openSse } from '../sse.js';
import {
  ackBody,
  errorBody,
  fetchQuery,
  idParams,
  messagesResponse,
  requestBody,
  requestResponse,
  sendBody,
  sendResponse,
  sourceParams,
} from '../schemas.js';

export interface MessageRouteDeps {
  messages: MessageService;
  wake: WakeBus;
  auth: Auth;
  config: Config;
  /** SEND_RATE_PER_SEC: per-sender token bucket; null/absent = no limit. */
  sendLimiter?: SendRateLimiter | null;
}

const STREAM_BATCH = 1000;
const JSON_TYPE = 'application/json; charset=utf-8';

export const messageRoutes: FastifyPluginAsyncZod<MessageRouteDeps> = async (app, { messages, wake, auth, config, sendLimiter }) => {
  /** Open /messages/{id}/stream connections on this replica, per instance id. */
  const openStreams = new Map<string, number>();
  app.post(
    '/messages/send/:source_id',
    {
      schema: {
        operationId: 'sendMessage',
        summary: 'Send a message (targeted, broadcast, or capability-routed)',
        tags: ['messages'],
        params: sourceParams,
        headers: idempotencyHeaders,
        body: sendBody,
        response: {
          200: sendResponse,
          400: errorBody,
          401: errorBody,
          403: errorBody,
          404: errorBody,
          413: errorBody,
          422: errorBody,
          429: errorBody,
        },
      },
      // Hot path: fast-json-stringify compiled from the zod schema (src/http/serializer.ts).
      serializerCompiler: fastSerializerCompiler,
    },
    async (request, reply) => {
      const source = request.params.source_id;
      await auth.forInstance(request, source);
      await sendLimiter?.take(source);
      const b = request.body;
      const input = {
        target_instance: b.target_instance ?? null,
        message_type: b.message_type,
        payload: b.payload as never,
        correlation_id: b.correlation_id ?? null,
        target_capability: b.target_capability ?? null,
      };
      const idem = idempotencyOf(request.headers, 'send', [
        input.target_instance,
        input.target_capability,
        input.message_type,
        input.payload,
        input.correlation_id,
      ]);
      const out = await messages.submit(source, input, idem);
      if (out.replayed) reply.header(REPLAYED_HEADER, 'true');
      return out.result;
    },
  );

  app.post(
    '/messages/request/:source_id',
    {
      schema: {
        operationId: 'request',
        summary: 'Send a request and wait for the correlated Response (additive)',
        tags: ['messages'],
        params: sourceParams,
        headers: idempotencyHeaders,
        body: requestBody,
        response: {
          200: requestResponse,
          400: errorBody,
          401: errorBody,
          403: errorBody,
          404: errorBody,
          422: errorBody,
          429: errorBody,
          504: errorBody,
        },
      },
    },
    async (request, reply) => {
      const source = request.params.source_id;
      await auth.forInstance(request, source);
      await sendLimiter?.take(source);
      const b = request.body;
      const input = {
        target_instance: b.target_instance ?? null,
        target_capability: b.target_capability ?? null,
        message_type: b.message_type,
        payload: b.payload as never,
      };
      // The wait (timeout_ms) is how long this attempt waits, not what is sent: not in the fingerprint.
      const idem = idempotencyOf(request.headers, 'request', [
        input.target_instance,
        input.target_capability,
        input.message_type,
        input.payload,
      ]);
      const { request: sent, response, replayed } = await messages.request(source, input, b.timeout_ms, idem);
      if (replayed) reply.header(REPLAYED_HEADER, 'true');
      return { request: sent, response };
    },
  );

  app.get(
    '/messages/:id',
    {
      schema: {
        operationId: 'fetchMessages',
        summary: 'Messages not yet acknowledged by the instance, oldest first (?wait= long-polls)',
        tags: ['messages'],
        params: idParams,
        querystring: fetchQuery,
        response: { 200: messagesResponse, 400: errorBody, 401: errorBody, 403: errorBody, 404: errorBody },
      },
      serializerCompiler: fastSerializerCompiler,
    },
    async (request, reply) => {
      const { id } = request.params;
      await auth.forInstance(request, id);
      const { limit, wait } = request.query;
      let pending: PendingMessage[];
      if (!wait) pending = await messages.fetch(id, limit);
      else {
        const abort = new AbortController();
        request.raw.on('close', () => abort.abort());
        const waitMs = Math.min(wait, config.LONG_POLL_MAX_S) * 1000;
        pending = await messages.fetchWait(id, limit, waitMs, abort.signal);
      }
      // Each message is already its JSON text (spliced from the stored body).
      return reply.type(JSON_TYPE).send(`{"messages":[${pending.map((m) => m.json).join(',')}]}` as never);
    },
  );

  const ack = async (id: string, ids: string[]) => {
    await messages.ack(id, ids);
  };
  const ackSchema = {
    summary: "Acknowledge the caller's own copies of these messages",
    tags: ['messages'],
    params: idParams,
    body: ackBody,
    response: { 204: z.null().meta({ description: 'Acknowledged (empty body)' }), 400: errorBody, 401: errorBody, 403: errorBody },
  };
  app.post('/messages/ack/:id', { schema: { ...ackSchema, operationId: 'ack' } }, async (request, reply) => {
    await auth.forInstance(request, request.params.id);
    await ack(request.params.id, request.body.message_ids);
    return reply.code(204).send(null);
  });
  app.post(
    '/messages/:id/ack',
    { schema: { ...ackSchema, operationId: 'ackAlias', summary: 'Alias of /messages/ack/{id}' } },
    async (request, reply) => {
      await auth.forInstance(request, request.params.id);
      await ack(request.params.id, request.body.message_ids);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/messages/:id/stream',
    {
      schema: {
        operationId: 'streamMessages',
        summary: 'Server-sent events: each un-acked message once per connection (event id = message_id)',
        tags: ['messages'],
        params: idParams,
        response: {
          200: {
            description: 'text/event-stream: `message` events (data: an AgentMessage), `error` on failure',
            content: { 'text/event-stream': { schema: z.string() } },
          },
          401: errorBody,
          403: errorBody,
          404: errorBody,
          429: errorBody,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      await auth.forInstance(request, id);
      // Each stream holds a socket and re-reads the inbox on every wake-up: a handful per
      // instance is plenty (one per consumer process), more is a leak or an attack.
      const open = openStreams.get(id) ?? 0;
      if (open >= config.STREAMS_PER_INSTANCE_MAX) throw errors.tooManyStreams(id, config.STREAMS_PER_INSTANCE_MAX);
      openStreams.set(id, open + 1);
      reply.raw.once('close', () => {
        const n = (openStreams.get(id) ?? 1) - 1;
        if (n <= 0) openStreams.delete(id);
        else openStreams.set(id, n);
      });
      // Subscribe before the first read: a message sent after that read but before the stream
      // waits must still wake it (the notice would otherwise reach no listener and the message
      // would sit undelivered until some later wake-up).
      const waiter = wake.inboxWaiter(id);
      let page: FetchPage;
      try {
        // Fail before hijacking when the instance is unknown, so the client gets a JSON 404.
        page = await messages.fetchPage(id, STREAM_BATCH);
      } catch (err) {
        waiter.close();
        throw err;
      }
      const sse = openSse(request, reply, config.SSE_KEEPALIVE_MS);
      sse.signal.addEventListener('abort', () => waiter.poke());
      try {
        // Each page continues after the previous one (new messages always come after it), so
        // every pending message is sent once per connection and nothing is read twice.
        while (!sse.closed && !wake.isClosed) {
          for (const m of page.messages) {
            // A client that does not read: wait for its socket to drain before writing more, so
            // the replica buffers about one message per stream, not the whole inbox.
            if (!sse.sendJson({ id: m.message_id, event: 'message', json: m.json })) await sse.drained();
            if (sse.closed) break;
          }
          if (!page.more) await waiter.sleep();
          if (sse.closed || wake.isClosed) break;
          waiter.arm();
          page = await messages.fetchPage(id, STREAM_BATCH, page.next);
        }
      } catch (err) {
        request.log.warn({ err }, 'message stream ended by error');
        // The cause stays in the log: Redis' own error text is not for clients.
        sse.send({ event: 'error', data: { error: 'The stream failed; reconnect to resume', code: 'stream_error' } });
      } finally {
        waiter.close();
        sse.end();
      }
    },
  );
};
