// Small wrappers around the /messages routes for the messaging suites: in-process (inject) calls,
// a plain-HTTP fetch for listening apps/replicas, and a server-sent-events reader.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { eventually, register, type RegisterOpts, type TestMesh } from './app.js';

export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export const RFC3339_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

export type MessageType = string | { Custom: string };

export interface AgentMessage {
  message_id: string;
  source_instance: string;
  target_instance: string | null;
  message_type: MessageType;
  payload: unknown;
  correlation_id: string | null;
  created_at: string;
}

export interface SendBody {
  target_instance?: string | null;
  message_type?: MessageType;
  payload?: unknown;
  correlation_id?: string | null;
  target_capability?: string | null;
}

export interface SendOk {
  message_id: string;
  status: 'queued';
  delivered_to: string[];
}

/** A send body with the contract's required fields filled in. */
export function sendBody(target: string | null, payload: unknown = null, more: SendBody = {}): SendBody {
  return { target_instance: target, message_type: 'Notification', payload, correlation_id: null, ...more };
}

export function sendRaw(app: FastifyInstance, source: string, body: unknown): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: `/messages/send/${source}`, payload: body as object });
}

/** Sends and expects 200; returns the parsed reply. */
export async function send(app: FastifyInstance, source: string, body: SendBody): Promise<SendOk> {
  const res = await sendRaw(app, source, body);
  if (res.statusCode !== 200) throw new Error(`send ${source}: ${res.statusCode} ${res.body}`);
  return res.json<SendOk>();
}

export function fetchRaw(app: FastifyInstance, id: string, query = ''): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url: `/messages/${id}${query ? `?${query}` : ''}` });
}

/** Fetches and expects 200; returns the messages. */
export async function fetchMessages(app: FastifyInstance, id: string, query = ''): Promise<AgentMessage[]> {
  const res = await fetchRaw(app, id, query);
  if (res.statusCode !== 200) throw new Error(`fetch ${id}: ${res.statusCode} ${res.body}`);
  return res.json<{ messages: AgentMessage[] }>().messages;
}

export function ackRaw(app: FastifyInstance, id: string, messageIds: string[], alias = false): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: alias ? `/messages/${id}/ack` : `/messages/ack/${id}`,
    payload: { message_ids: messageIds },
  });
}

/** Acks and expects 204. */
export async function ack(app: FastifyInstance, id: string, messageIds: string[], alias = false): Promise<void> {
  const res = await ackRaw(app, id, messageIds, alias);
  if (res.statusCode !== 204) throw new Error(`ack ${id}: ${res.statusCode} ${res.body}`);
}

/** Asserts a `{error, code}` JSON error body with the given status and code. */
export function expectError(res: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
  const body = JSON.parse(res.body) as { error: unknown; code: unknown };
  expect(typeof body.error).toBe('string');
  expect((body.error as string).length).toBeGreaterThan(0);
  expect(body.code).toBe(code);
  return body as { error: string; code: string } & Record<string, unknown>;
}

/** JSON over real HTTP (listening apps, replicas). */
export async function http<T = unknown>(
  url: string,
  init: { method?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: init.signal,
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
}

export interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
}

/**
 * Reads a text/event-stream response: parsed events and comment lines, in arrival order.
 * `next(pred)` resolves with the first item (from the start of the stream, not yet consumed by an
 * earlier `next`) that matches.
 */
export class SseReader {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  private buffer = '';
  private readonly waiters = new Set<() => void>();
  private done = false;
  private failure: unknown = null;
  readonly finished: Promise<void>;

  constructor(
    readonly response: Response,
    private readonly controller: AbortController,
  ) {
    const body = response.body;
    if (!body) throw new Error('SSE response has no body');
    const reader = body.getReader();
    const decoder = new TextDecoder();
    this.finished = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          this.buffer += decoder.decode(value, { stream: true });
          this.parse();
        }
      } catch (err) {
        if (!controller.signal.aborted) this.failure = err;
      } finally {
        this.done = true;
        this.notify();
      }
    })();
  }

  private parse() {
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end < 0) break;
      const frame = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const ev: SseEvent = {};
      let isEvent = false;
      for (const line of frame.split('\n')) {
        if (line.startsWith(':')) {
          this.comments.push(line.slice(1).trim());
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') ev.id = value;
        else if (field === 'event') ev.event = value;
        else if (field === 'data') ev.data = ev.data === undefined ? value : `${ev.data}\n${value}`;
        else continue; // retry: and unknown fields
        isEvent = true;
      }
      if (isEvent) this.events.push(ev);
    }
    this.notify();
  }

  private notify() {
    for (const w of [...this.waiters]) w();
  }

  /** Waits until `cond()` holds (checked on every chunk), or fails after `timeoutMs`. */
  async until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    if (cond()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`SSE: ${what} not met within ${timeoutMs} ms (events: ${JSON.stringify(this.events)})`));
      }, timeoutMs);
      const check = () => {
        if (cond()) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve();
        } else if (this.done) {
          clearTimeout(timer);
          this.waiters.delete(check);
          reject(new Error(`SSE stream ended before ${what} (error: ${String(this.failure)})`));
        }
      };
      this.waiters.add(check);
    });
  }

  /** Message events decoded as AgentMessages. */
  messages(): AgentMessage[] {
    return this.events.filter((e) => e.event === 'message').map((e) => JSON.parse(e.data ?? 'null') as AgentMessage);
  }

  get ended(): boolean {
    return this.done;
  }

  async close(): Promise<void> {
    this.controller.abort();
    await this.finished;
  }
}

/** Opens GET `url` as an event stream; the response status is checked by the caller. */
export async function openStream(url: string): Promise<SseReader> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream' }, signal: controller.signal });
  return new SseReader(res, controller);
}

/** Nested JSON: `depth` levels of objects. */
export function nested(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = { n: v };
  return v;
}

/** Registers `id` through an extra app whose stale timeout is tiny, and waits until it has lapsed. */
export async function registerLapsed(m: TestMesh, id: string, o: RegisterOpts = {}): Promise<void> {
  const shortLived = await m.addApp({ STALE_TIMEOUT_MS: 100, HEARTBEAT_INTERVAL_MS: 20 });
  await register(shortLived, id, o);
  await eventually(async () => {
    const res = await m.apps[0]!.inject({ method: 'GET', url: '/registry/agents' });
    const ids = res.json<{ instances: { instance_id: string }[] }>().instances.map((i) => i.instance_id);
    return !ids.includes(id);
  });
}

export async function xlen(m: TestMesh, key: string): Promise<number> {
  return m.redis.xlen(key);
}
