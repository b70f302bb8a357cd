// MeshClient: one typed method per HTTP route, on Node's global fetch (no server dependencies).
//
// Timeouts: every attempt has its own deadline (`timeoutMs`, default 10 s; long-polls add their
// `wait`). Retries: exponential backoff with full jitter (random 0..min(max, base*2^n)), at least
// the server's Retry-After when it sent one. Which failures are retried depends on the route:
//
//   idempotent   GET routes, register, heartbeat, ack, deregister: repeated delivery has the same
//                effect, so network errors, timeouts and 5xx (incl. 503) are retried.
//   connect-only send and request: each delivery queues a new message, so they are retried only
//                when the connection was never established (refused, DNS failure, unreachable):
//                then the server provably never saw the request. A timeout, a reset after
//                sending, or a 5xx may mean the message was queued: the error is returned and
//                the caller decides (retrying may duplicate the message).
//
// 4xx answers are never retried. Failures are MeshApiError (status + server code) or
// MeshNetworkError (transport).
import { MeshApiError, MeshNetworkError, isConnectFailure, type NetworkErrorKind } from './errors.js';
import { parseSse, type SseEvent } from './sse.js';
import type {
  AgentMessage,
  AgentsQuery,
  AgentsResponse,
  HealthResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  LeaderInfo,
  MeshEvent,
  MeshInstance,
  MessagesResponse,
  RegisterRequest,
  RegisterResponse,
  SendRequest,
  SendResponse,
  ServerRequestBody,
  ServerRequestResponse,
} from './types.js';

export type RetryPolicy = 'idempotent' | 'connect-only' | 'never';

export interface MeshClientOptions {
  /** Base URL of the registry (or its load balancer), e.g. http://127.0.0.1:8080 */
  url: string;
  /** Bearer token sent on every call (shared token, admin token or instance token). */
  token?: string | null;
  /** Per-attempt timeout in ms (default 10000). Long-polls add their wait time. */
  timeoutMs?: number;
  /** Extra attempts after the first for retryable failures (default 3). */
  retries?: number;
  /** Backoff base in ms (default 200); attempt n waits random(0, min(retryMaxMs, base * 2^(n-1))). */
  retryBaseMs?: number;
  /** Backoff cap in ms (default 5000). */
  retryMaxMs?: number;
  /** Largest Retry-After honoured, in ms (default 30000). */
  retryAfterMaxMs?: number;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** fetch implementation (default: global fetch). */
  fetch?: typeof fetch;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Bearer for this call only (null: none); default the client's token. */
  token?: string | null;
  timeoutMs?: number;
  retries?: number;
}

export interface RegisterOptions extends CallOptions {
  /** AUTH_MODE=instance: the instance token, needed to re-register an id that is still live. */
  instanceToken?: string | null;
}

export interface FetchOptions extends CallOptions {
  /** Page size (server default 100, max 1000). */
  limit?: number;
  /** Long-poll: wait up to this many seconds for a message (server max LONG_POLL_MAX_S). */
  wait?: number;
}

export interface StreamOptions extends CallOptions {
  /** Abort the connection when nothing (not even a keep-alive comment) arrives for this long (default 60000). */
  idleTimeoutMs?: number;
}

export interface EventsOptions extends StreamOptions {
  /** Resume after this event id. */
  lastEventId?: string;
  /** Reconnect (with backoff, resuming from the last id) after network errors and 5xx (default true). 4xx always ends the feed. */
  reconnect?: boolean;
}

interface Prepared {
  method: string;
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  policy: RetryPolicy;
  /** Extra ms added to the attempt timeout (long-poll wait). */
  extraTimeoutMs?: number;
  /** Statuses handed back to the caller instead of becoming MeshApiError. */
  passStatuses?: number[];
}

interface RawResult {
  status: number;
  body: unknown;
  attempts: number;
}

const DEFAULTS = { timeoutMs: 10_000, retries: 3, retryBaseMs: 200, retryMaxMs: 5_000, retryAfterMaxMs: 30_000 };

/** Parses Retry-After (delta seconds or an HTTP date) to ms, or null. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === '') return null;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** Full-jitter backoff for retry number `attempt` (1-based). */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1)));
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

export class MeshClient {
  readonly url: string;
  readonly token: string | null;
  private readonly opts: Required<Omit<MeshClientOptions, 'token' | 'url' | 'headers' | 'fetch'>>;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;

  constructor(options: MeshClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new TypeError(`invalid mesh URL: ${JSON.stringify(options.url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`mesh URL must be http(s): ${JSON.stringify(options.url)}`);
    }
    this.url = options.url.replace(/\/+$/, '');
    this.token = options.token ?? null;
    this.opts = {
      timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
      retries: options.retries ?? DEFAULTS.retries,
      retryBaseMs: options.retryBaseMs ?? DEFAULTS.retryBaseMs,
      retryMaxMs: options.retryMaxMs ?? DEFAULTS.retryMaxMs,
      retryAfterMaxMs: options.retryAfterMaxMs ?? DEFAULTS.retryAfterMaxMs,
    };
    this.headers = { ...(options.headers ?? {}) };
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** The same client with another default bearer token. */
  withToken(token: string | null): MeshClient {
    return new MeshClient({ ...this.opts, url: this.url, token, headers: this.headers, fetch: this.fetchImpl });
  }

  // ---- registry ------------------------------------------------------------------------------

  register(body: RegisterRequest, options: RegisterOptions = {}): Promise<RegisterResponse> {
    const headers: Record<string, string> = {};
    if (options.instanceToken) headers['x-instance-token'] = options.instanceToken;
    return this.json<RegisterResponse>({ method: 'POST', path: '/registry/register', body, headers, policy: 'idempotent' }, options);
  }

  /** One page of live instances (oldest first). */
  listAgents(query: AgentsQuery = {}, options: CallOptions = {}): Promise<AgentsResponse> {
    return this.json<AgentsResponse>(
      { method: 'GET', path: '/registry/agents', query: { capability: query.capability, limit: query.limit, cursor: query.cursor }, policy: 'idempotent' },
      options,
    );
  }

  /** Every live instance, following `next_cursor` across pages. */
  async listAllAgents(query: Omit<AgentsQuery, 'cursor'> = {}, options: CallOptions = {}): Promise<AgentsResponse> {
    let page = await this.listAgents(query, options);
    const instances = [...page.instances];
    while (page.next_cursor !== null) {
      page = await this.listAgents({ ...query, cursor: page.next_cursor }, options);
      instances.push(...page.instances);
    }
    return { instances, leader_id: page.leader_id, leader_term: page.leader_term, next_cursor: null };
  }

  /** One live instance; MeshApiError 404 `instance_not_found` when unknown. */
  getAgent(id: string, options: CallOptions = {}): Promise<MeshInstance> {
    return this.json<MeshInstance>({ method: 'GET', path: `/registry/agents/${enc(id)}`, policy: 'idempotent' }, options);
  }

  leader(options: CallOptions = {}): Promise<LeaderInfo> {
    return this.json<LeaderInfo>({ method: 'GET', path: '/registry/leader', policy: 'idempotent' }, options);
  }

  /**
   * Renews `id`. Resolves `{acknowledged: false}` (HTTP 404) when the registry no longer knows
   * the id (evicted, or its data was lost): the caller must register again.
   */
  async heartbeat(id: string, body: HeartbeatRequest = { status: 'healthy', metrics: null }, options: CallOptions = {}): Promise<HeartbeatResponse> {
    const res = await this.raw(
      { method: 'POST', path: `/registry/heartbeat/${enc(id)}`, body: { status: body.status, metrics: body.metrics ?? null }, policy: 'idempotent', passStatuses: [404] },
      options,
    );
    if (res.status === 404) {
      if (isRecord(res.body) && res.body.acknowledged === false) return res.body as unknown as HeartbeatResponse;
      throw this.apiError('POST', `/registry/heartbeat/${enc(id)}`, 404, res.body, null, res.attempts);
    }
    return res.body as HeartbeatResponse;
  }

  /** true when removed, false when the id was not registered (or had lapsed). */
  async deregister(id: string, options: CallOptions = {}): Promise<boolean> {
    const path = `/registry/deregister/${enc(id)}`;
    const res = await this.raw({ method: 'DELETE', path, policy: 'idempotent', passStatuses: [404] }, options);
    if (res.status === 404) {
      // Unknown id: `instance_not_found` (older servers: an empty body). Any other 404 means
      // something else, such as no such route.
      if (res.body === undefined || (isRecord(res.body) && res.body.code === 'instance_not_found')) return false;
      throw this.apiError('DELETE', path, 404, res.body, null, res.attempts);
    }
    return true;
  }

  // ---- messages ------------------------------------------------------------------------------

  /** Sends as `source`. Not idempotent: retried only when the connection was refused (see top). */
  send(source: string, body: SendRequest, options: CallOptions = {}): Promise<SendResponse> {
    const wire: Record<string, unknown> = {
      target_instance: body.target_instance,
      message_type: body.message_type,
      payload: body.payload,
      correlation_id: body.correlation_id,
    };
    if (body.target_capability) wire.target_capability = body.target_capability;
    return this.json<SendResponse>({ method: 'POST', path: `/messages/send/${enc(source)}`, body: wire, policy: 'connect-only' }, options);
  }

  /** Messages not yet acked by `id`, oldest first; `wait` long-polls. 404 `instance_not_found` when `id` is not live. */
  async fetchMessages(id: string, options: FetchOptions = {}): Promise<AgentMessage[]> {
    const wait = options.wait ?? 0;
    const res = await this.json<MessagesResponse>(
      {
        method: 'GET',
        path: `/messages/${enc(id)}`,
        query: { limit: options.limit, wait: wait > 0 ? wait : undefined },
        policy: 'idempotent',
        extraTimeoutMs: wait * 1000,
      },
      options,
    );
    return res.messages;
  }

  async ack(id: string, messageIds: string[], options: CallOptions = {}): Promise<void> {
    if (messageIds.length === 0) return;
    for (let i = 0; i < messageIds.length; i += 1000) {
      await this.raw(
        { method: 'POST', path: `/messages/ack/${enc(id)}`, body: { message_ids: messageIds.slice(i, i + 1000) }, policy: 'idempotent' },
        options,
      );
    }
  }

  /**
   * Server-side request/response (POST /messages/request): the replica that takes the call waits
   * for the Response. Not idempotent (connect-only retries). MeshAgent.request does the same on
   * the client side, which needs no long-held request.
   */
  request(source: string, body: ServerRequestBody, options: CallOptions = {}): Promise<ServerRequestResponse> {
    const timeoutMs = body.timeout_ms ?? 30_000;
    return this.json<ServerRequestResponse>(
      { method: 'POST', path: `/messages/request/${enc(source)}`, body, policy: 'connect-only', extraTimeoutMs: timeoutMs },
      options,
    );
  }

  /** SSE: each un-acked message once per connection. Ends when the server closes the stream. */
  async *stream(id: string, options: StreamOptions = {}): AsyncGenerator<AgentMessage> {
    for await (const ev of this.sse(`/messages/${enc(id)}/stream`, {}, options)) {
      if (ev.event === 'message') {
        yield JSON.parse(ev.data) as AgentMessage;
      } else if (ev.event === 'error') {
        throw new MeshNetworkError({ kind: 'network', errno: 'stream_error', method: 'GET', path: `/messages/${enc(id)}/stream`, attempts: 1, cause: new Error(ev.data) });
      }
    }
  }

  // ---- membership feed (optional server feature) ---------------------------------------------

  /**
   * Follows GET /registry/events (joined, left, leader, updated). When the server has no such
   * route this throws MeshApiError 404 at once. With `reconnect` (default) transport failures
   * resume from the last event id after a backoff.
   */
  async *events(options: EventsOptions = {}): AsyncGenerator<MeshEvent> {
    let lastId = options.lastEventId ?? null;
    const reconnect = options.reconnect ?? true;
    let failures = 0;
    for (;;) {
      try {
        const headers: Record<string, string> = {};
        if (lastId) headers['last-event-id'] = lastId;
        for await (const ev of this.sse('/registry/events', headers, { ...options, retries: 0 })) {
          failures = 0;
          if (ev.id) lastId = ev.id;
          if (ev.event === 'error') {
            throw new MeshNetworkError({ kind: 'network', errno: 'stream_error', method: 'GET', path: '/registry/events', attempts: 1, cause: new Error(ev.data) });
          }
          // `ready` only carries the starting cursor (kept above as lastId).
          if (ev.event === 'ready') continue;
          const event = toMeshEvent(ev);
          if (event) yield event;
        }
      } catch (err) {
        if (options.signal?.aborted) throw options.signal.reason;
        const retryable = err instanceof MeshNetworkError || (err instanceof MeshApiError && err.status >= 500);
        if (!reconnect || !retryable) throw err;
      }
      if (!reconnect) return;
      failures++;
      const delay = backoffDelay(Math.min(failures, 6), this.opts.retryBaseMs, this.opts.retryMaxMs);
      await sleep(Math.max(delay, 100), options.signal);
    }
  }

  // ---- health --------------------------------------------------------------------------------

  /** 200 body; a not-ready server is MeshApiError 503 `unavailable` (after retries). */
  health(options: CallOptions = {}): Promise<HealthResponse> {
    return this.json<HealthResponse>({ method: 'GET', path: '/health', policy: 'idempotent' }, options);
  }

  // ---- transport -----------------------------------------------------------------------------

  private async json<T>(req: Prepared, options: CallOptions): Promise<T> {
    return (await this.raw(req, options)).body as T;
  }

  private buildUrl(path: string, query?: Record<string, string | number | undefined>): string {
    let url = this.url + path;
    if (query) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
      const s = qs.toString();
      if (s) url += `?${s}`;
    }
    return url;
  }

  private buildHeaders(extra: Record<string, string> | undefined, token: string | null, hasBody: boolean): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json', ...this.headers, ...(extra ?? {}) };
    if (hasBody) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    return headers;
  }

  private apiError(method: string, path: string, status: number, body: unknown, retryAfterMs: number | null, attempts: number): MeshApiError {
    const rec = isRecord(body) ? body : null;
    const code = rec && typeof rec.code === 'string' ? rec.code : `http_${status}`;
    let message: string;
    if (rec && typeof rec.error === 'string') message = rec.error;
    else if (typeof body === 'string' && body.trim()) message = body.trim().slice(0, 200);
    else message = `HTTP ${status}`;
    return new MeshApiError({ status, code, message, body: rec, method, path, retryAfterMs, attempts });
  }

  private retryDelay(attempt: number, retryAfterMs: number | null): number {
    const jitter = backoffDelay(attempt, this.opts.retryBaseMs, this.opts.retryMaxMs);
    if (retryAfterMs === null) return jitter;
    return Math.min(this.opts.retryAfterMaxMs, Math.max(retryAfterMs, jitter));
  }

  private async raw(req: Prepared, options: CallOptions): Promise<RawResult> {
    const url = this.buildUrl(req.path, req.query);
    const token = options.token === undefined ? this.token : options.token;
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);
    const headers = this.buildHeaders(req.headers, token, body !== undefined);
    const retries = req.policy === 'never' ? 0 : (options.retries ?? this.opts.retries);
    const timeoutMs = (options.timeoutMs ?? this.opts.timeoutMs) + (req.extraTimeoutMs ?? 0);

    for (let attempt = 1; ; attempt++) {
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
      let status: number;
      let text: string;
      let retryAfter: string | null;
      try {
        const res = await this.fetchImpl(url, { method: req.method, headers, body, signal });
        status = res.status;
        retryAfter = res.headers.get('retry-after');
        text = await res.text();
      } catch (err) {
        if (options.signal?.aborted) throw options.signal.reason;
        const kind: NetworkErrorKind = timeout.aborted ? 'timeout' : isConnectFailure(err) ? 'connect' : 'network';
        const errno = kind === 'timeout' ? 'ETIMEDOUT' : (firstCode(err) ?? null);
        const failure = new MeshNetworkError({ kind, errno, method: req.method, path: req.path, attempts: attempt, cause: err });
        const retryable = req.policy === 'idempotent' || (req.policy === 'connect-only' && kind === 'connect');
        if (!retryable || attempt > retries) throw failure;
        await sleep(this.retryDelay(attempt, null), options.signal);
        continue;
      }
      const parsed = parseBody(text);
      if ((status >= 200 && status < 300) || req.passStatuses?.includes(status)) {
        return { status, body: parsed, attempts: attempt };
      }
      const retryAfterMs = parseRetryAfter(retryAfter);
      const error = this.apiError(req.method, req.path, status, parsed, retryAfterMs, attempt);
      if (status >= 500 && req.policy === 'idempotent' && attempt <= retries) {
        await sleep(this.retryDelay(attempt, retryAfterMs), options.signal);
        continue;
      }
      throw error;
    }
  }

  private async *sse(path: string, extraHeaders: Record<string, string>, options: StreamOptions): AsyncGenerator<SseEvent> {
    const url = this.buildUrl(path);
    const token = options.token === undefined ? this.token : options.token;
    const headers = { ...this.buildHeaders(extraHeaders, token, false), accept: 'text/event-stream' };
    const retries = options.retries ?? this.opts.retries;
    const connectTimeoutMs = options.timeoutMs ?? this.opts.timeoutMs;
    const idleMs = options.idleTimeoutMs ?? 60_000;

    for (let attempt = 1; ; attempt++) {
      const controller = new AbortController();
      const onAbort = () => controller.abort(options.signal?.reason);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      let timedOut = false;
      let timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, connectTimeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      let res: Response;
      try {
        if (options.signal?.aborted) throw options.signal.reason;
        res = await this.fetchImpl(url, { method: 'GET', headers, signal: controller.signal });
      } catch (err) {
        cleanup();
        if (options.signal?.aborted) throw options.signal.reason;
        const kind: NetworkErrorKind = timedOut ? 'timeout' : isConnectFailure(err) ? 'connect' : 'network';
        const failure = new MeshNetworkError({ kind, errno: firstCode(err) ?? null, method: 'GET', path, attempts: attempt, cause: err });
        if (attempt > retries) throw failure;
        await sleep(this.retryDelay(attempt, null), options.signal);
        continue;
      }
      if (res.status < 200 || res.status >= 300 || !res.body) {
        const text = await res.text().catch(() => '');
        cleanup();
        const error = this.apiError('GET', path, res.status, parseBody(text), parseRetryAfter(res.headers.get('retry-after')), attempt);
        if (res.status >= 500 && attempt <= retries) {
          await sleep(this.retryDelay(attempt, error.retryAfterMs), options.signal);
          continue;
        }
        throw error;
      }
      // Connected: from now on the deadline is an idle timeout, re-armed by every chunk.
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, idleMs);
      };
      arm();
      const body = res.body;
      const chunks = (async function* () {
        for await (const chunk of body) {
          arm();
          yield chunk;
        }
      })();
      try {
        yield* parseSse(chunks);
        return;
      } catch (err) {
        if (options.signal?.aborted) throw options.signal.reason;
        throw new MeshNetworkError({ kind: timedOut ? 'timeout' : 'network', errno: firstCode(err) ?? null, method: 'GET', path, attempts: attempt, cause: err });
      } finally {
        cleanup();
        controller.abort();
      }
    }
  }
}

function firstCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && e !== null && typeof e === 'object'; depth++) {
    const rec = e as { code?: unknown; cause?: unknown };
    if (typeof rec.code === 'string') return rec.code;
    e = rec.cause;
  }
  return undefined;
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function toMeshEvent(ev: SseEvent): MeshEvent | null {
  let data: Record<string, unknown>;
  try {
    const parsed = JSON.parse(ev.data) as unknown;
    data = isRecord(parsed) ? parsed : { value: parsed };
  } catch {
    data = { value: ev.data };
  }
  const type = ev.event !== 'message' ? ev.event : typeof data.type === 'string' ? data.type : 'message';
  if (type === 'keep-alive' || type === 'ping') return null;
  const instance = data.instance_id ?? data.leader_id ?? null;
  const termRaw = data.term ?? data.leader_term ?? null;
  const term = typeof termRaw === 'number' ? termRaw : typeof termRaw === 'string' && /^\d+$/.test(termRaw) ? Number(termRaw) : null;
  return { id: ev.id, type, instance_id: typeof instance === 'string' ? instance : null, term, data };
}
