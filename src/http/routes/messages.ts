// /messages/*: send, fetch (optionally long-poll), ack, SSE stream and request/response.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../../config.js';
import type { MessageService } from '../../registry/messages.js';
import type { SendRateLimiter } from '../../registry/ratelimit.js';
import type { WakeBus } from '../../registry/wakeups.js';
import type { Auth } from '../plugins/auth.js';
import { fastSerializerCompiler } from '../serializer.js';
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

export const messageRoutes: FastifyPluginAsyncZod<MessageRouteDeps> = async (app, { messages, wake, auth, config, sendLimiter }) => {
  app.post(
    '/messages/send/:source_id',
    {
      schema: {
        operationId: 'sendMessage',
        summary: 'Send a message (targeted, broadcast, or capability-routed)',
        tags: ['messages'],
        params: sourceParams,
        body: sendBody,
        response: { 200: sendResponse, 400: errorBody, 401: errorBody, 403: errorBody, 404: errorBody, 413: errorBody, 429: errorBody },
      },
      // Hot path: fast-json-stringify compiled from the zod schema (src/http/serializer.ts).
      serializerCompiler: fastSerializerCompiler,
    },
    async (request) => {
      const source = request.params.source_id;
      await auth.forInstance(request, source);
      await sendLimiter?.take(source);
      const b = request.body;
      return messages.send(source, {
        target_instance: b.target_instance ?? null,
        message_type: b.message_type,
        payload: b.payload as never,
        correlation_id: b.correlation_id ?? null,
        target_capability: b.target_capability ?? null,
      });
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
        body: requestBody,
        response: { 200: requestResponse, 400: errorBody, 401: errorBody, 403: errorBody, 404: errorBody, 429: errorBody, 504: errorBody },
      },
    },
    async (request) => {
      const source = request.params.source_id;
      await auth.forInstance(request, source);
      await sendLimiter?.take(source);
      const b = request.body;
      return messages.request(
        source,
        {
          target_instance: b.target_instance ?? null,
          target_capability: b.target_capability ?? null,
          message_type: b.message_type,
          payload: b.payload as never,
        },
        b.timeout_ms,
      );
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
    async (request) => {
      const { id } = request.params;
      await auth.forInstance(request, id);
      const { limit, wait } = request.query;
      if (!wait) return { messages: await messages.fetch(id, limit) };
      const abort = new AbortController();
      request.raw.on('close', () => abort.abort());
      const waitMs = Math.min(wait, config.LONG_POLL_MAX_S) * 1000;
      return { messages: await messages.fetchWait(id, limit, waitMs, abort.signal) };
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
  app.post('/messages/:id/ack', { schema: { ...ackSchema, operationId: 'ackAlias', summary: 'Alias of /messages/ack/{id}' } }, async (request, reply) => {
    await auth.forInstance(request, request.params.id);
    await ack(request.params.id, request.body.message_ids);
    return reply.code(204).send(null);
  });

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
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      await auth.forInstance(request, id);
      // Subscribe before the first read: a message sent after that read but before the stream
      // waits must still wake it (the notice would otherwise reach no listener and the message
      // would sit undelivered until some later wake-up).
      let woken = false;
      let wakeUp: (() => void) | null = null;
      const off = wake.onInbox(id, () => {
        woken = true;
        wakeUp?.();
      });
      let batch: Awaited<ReturnType<MessageService['fetch']>>;
      try {
        // Fail before hijacking when the instance is unknown, so the client gets a JSON 404.
        batch = await messages.fetch(id, STREAM_BATCH);
      } catch (err) {
        off();
        throw err;
      }
      const sse = openSse(request, reply, config.SSE_KEEPALIVE_MS);
      const sent = new Set<string>();
      sse.signal.addEventListener('abort', () => wakeUp?.());
      try {
        while (!sse.closed && !wake.isClosed) {
          const current = new Set<string>();
          for (const m of batch) {
            current.add(m.message_id);
            if (!sent.has(m.message_id)) sse.send({ id: m.message_id, event: 'message', data: m });
          }
          // Forget what was acked meanwhile, so the set stays as small as the pending list.
          for (const mid of sent) if (!current.has(mid)) sent.delete(mid);
          for (const mid of current) sent.add(mid);
          if (!woken) {
            await new Promise<void>((resolve) => {
              wakeUp = resolve;
              if (woken || sse.closed) resolve();
            });
          }
          woken = false;
          wakeUp = null;
          if (sse.closed || wake.isClosed) break;
          batch = await messages.fetch(id, STREAM_BATCH);
        }
      } catch (err) {
        request.log.warn({ err }, 'message stream ended by error');
        sse.send({ event: 'error', data: { error: err instanceof Error ? err.message : String(err), code: 'stream_error' } });
      } finally {
        off();
        sse.end();
      }
    },
  );
};
