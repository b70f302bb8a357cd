// Minimal server-sent-events writer on a hijacked reply: headers, events, keep-alive comments, and
// a close signal. Used by the message stream and the membership events feed.
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface SseChannel {
  /** Writes one event; false when the socket buffer is full (wait for `drained()` before more). */
  send(event: { id?: string; event?: string; data: unknown }): boolean;
  /** Like send, with data already JSON text. */
  sendJson(event: { id?: string; event?: string; json: string }): boolean;
  /** Resolves when the socket can take more, or when the stream closes. */
  drained(): Promise<void>;
  comment(text: string): void;
  readonly closed: boolean;
  /** Aborted when the client goes away or the server shuts down. */
  readonly signal: AbortSignal;
  end(): void;
}

export function openSse(request: FastifyRequest, reply: FastifyReply, keepAliveMs: number): SseChannel {
  reply.hijack();
  const res = reply.raw;
  // A hijacked reply skips Fastify's onSend hooks: carry over what the onRequest hooks already set
  // (security headers, CORS), so a stream is as protected and as readable as a JSON answer.
  const inherited: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) inherited[name] = value;
  res.writeHead(200, {
    ...inherited,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-request-id': request.id,
  });
  res.write('retry: 1000\n\n');
  const controller = new AbortController();
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    controller.abort();
  };
  const timer = setInterval(() => {
    if (!closed) res.write(': keep-alive\n\n');
  }, keepAliveMs);
  request.raw.on('close', close);
  res.on('close', close);
  return {
    send({ id, event, data }) {
      return this.sendJson({ ...(id ? { id } : {}), ...(event ? { event } : {}), json: JSON.stringify(data) });
    },
    sendJson({ id, event, json }) {
      if (closed) return false;
      let frame = '';
      if (id) frame += `id: ${id}\n`;
      if (event) frame += `event: ${event}\n`;
      // JSON text has no raw newline: one data line.
      frame += `data: ${json}\n\n`;
      return res.write(frame);
    },
    drained() {
      if (closed || !res.writableNeedDrain) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          controller.signal.removeEventListener('abort', done);
          resolve();
        };
        res.on('drain', done);
        controller.signal.addEventListener('abort', done);
      });
    },
    comment(text) {
      if (!closed) res.write(`: ${text}\n\n`);
    },
    get closed() {
      return closed;
    },
    signal: controller.signal,
    end() {
      close();
      res.end();
    },
  };
}
