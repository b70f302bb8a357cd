// Minimal server-sent-events writer on a hijacked reply: headers, events, keep-alive comments, and
// a close signal. Used by the message stream and the membership events feed.
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface SseChannel {
  send(event: { id?: string; event?: string; data: unknown }): boolean;
  comment(text: string): void;
  readonly closed: boolean;
  /** Aborted when the client goes away or the server shuts down. */
  readonly signal: AbortSignal;
  end(): void;
}

export function openSse(request: FastifyRequest, reply: FastifyReply, keepAliveMs: number): SseChannel {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
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
      if (closed) return false;
      let frame = '';
      if (id) frame += `id: ${id}\n`;
      if (event) frame += `event: ${event}\n`;
      frame += `data: ${JSON.stringify(data)}\n\n`;
      return res.write(frame);
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
