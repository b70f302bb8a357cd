// MeshClient: one typed method per HTTP route, on the global fetch (no server dependencies).
//
// Timeouts: every attempt has its own deadline (`timeoutMs`, default 10 s; long-polls add their
// `wait`). Retries (p-retry): exponential backoff, randomized, capped at `retryMaxMs`, after at
// least the server's Retry-After when it sent one. Which failures are retried depends on the route:
//
//   idempotent   GET routes, register, heartbeat, ack, deregister: repeated delivery has the same
//                effect, so network errors, timeouts and 5xx (incl. 503) are retried.
//                send and request too: each call carries an Idempotency-Key (a fresh UUID per
//                call unless the caller gives one), and the server answers a retry with the same
//                key with the first result, queueing nothing. So a timeout, a reset after sending
//                or a 503 - where the message may well have been queued - is retried safely.
//   connect-only send and request with `idempotencyKey: null` (no key, e.g. a server without
//                support): retried only when the connection was never established (refused, DNS
//                failure, unreachable): then the server provably never saw the request. Any
//                other failure is returned and the caller decides (retrying may duplicate).
//
// 4xx answers are never retried. Failures are MeshApiError (status + server code) or
// MeshNetworkError (transport).
import pRetry from 'p-retry';
import { delay } from './delay.js';
import { MeshApiError, MeshNetworkError, isConnectFailure, type NetworkErrorKind } from './errors.js';
import { parseSse, type SseEvent } from './sse.js';
import type {
  AgentCard,
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
  token?: string | null | undefined;
  /** Per-attempt timeout in ms (default 10000). Long-polls add their wait time. */
  timeoutMs?: number | undefined;
  /** Extra attempts after the first for retryable failures (default 3). */
  retries?: number | undefined;
  /** Backoff base in ms (default 200): retry n waits min(retryMaxMs, base * 2^(n-1) * random(1..2)). */
  retryBaseMs?: number | undefined;
  /** Backoff cap in ms (default 5000). */
  retryMaxMs?: number | undefined;
  /** Largest Retry-After honoured, in ms (default 30000). */
  retryAfterMaxMs?: number | undefined;
  /** Extra headers on every request. */
  headers?: Record<string, string> | undefined;
  /** fetch implementation (default: the global fetch). */
  fetch?: typeof fetch | undefined;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
  /** Bearer for this call only (null: none); default the client's token. */
  token?: string | null | undefined;
  timeoutMs?: number | undefined;
  retries?: number | undefined;
}

export interface SendCallOptions extends CallOptions {
  /**
   * Idempotency-Key of this logical send (1-255 of `A-Za-z0-9._:/+=~-`). Default: a fresh UUID per
   * call, shared by its retries. Give your own to make retries across calls (or processes) safe;
   * null sends none and retries only connections that never opened.
   */
  idempotencyKey?: string | null | undefined;
}

export interface RegisterOptions extends CallOptions {
  /** AUTH_MODE=instance: the instance token, needed to re-register an id that is still live. */
  instanceToken?: string | null | undefined;
}

export interface FetchOptions extends CallOptions {
  /** Page size (server default 100, max 1000). */
  limit?: number | undefined;
  /** Long-poll: wait up to this many seconds for a message (server max LONG_POLL_MAX_S). */
  wait?: number | undefined;
}

export interface StreamOptions extends CallOptions {
  /** Abort the connection when nothing (not even a keep-alive comment) arrives for this long (default 60000). */
  idleTimeoutMs?: number | undefined;
}

export interface EventsOptions extends StreamOptions {
  /** Resume after this event id (`since`): events after it, retained history permitting. */
  lastEventId?: string | undefined;
  /** Reconnect (with backoff, resuming from the last id) after network errors and 5xx (default true). 4xx always ends the feed. */
  reconnect?: boolean | undefined;
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
  /** Server error codes that are answers, not failures: never retried. */
  finalCodes?: string[];
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

/**
 * Full-jitter backoff for retry number `attempt` (1-based): random(0, min(max, base * 2^(n-1))).
 * MeshAgent's long-running loops (re-register, reconnect the feed) pace themselves with it.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1)));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

/** Whether `policy` lets a request that failed with `err` be sent again (see the top of this file). */
function retryable(policy: RetryPolicy, err: unknown, finalCodes?: string[]): boolean {
  if (policy === 'never') return false;
  if (err instanceof MeshNetworkError) return policy === 'idempotent' || err.kind === 'connect';
  return err instanceof MeshApiError && err.status >= 500 && policy === 'idempotent' && !finalCodes?.includes(err.code);
}

/** The Idempotency-Key header for a send/request call, and the retry policy it allows. */
function keyed(options: SendCallOptions): { headers: Record<string, string>; policy: RetryPolicy } {
  const key = options.idempotencyKey === undefined ? globalThis.crypto.randomUUID() : options.idempotencyKey;
  return key === null ? { headers: {}, policy: 'connect-only' } : { headers: { 'idempotency-key': key }, policy: 'idempotent' };
}

export class MeshClient {
  readonly url: string;
  readonly token: string | null;
  private readonly opts: typeof DEFAULTS;
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
      {
        method: 'GET',
        path: '/registry/agents',
        query: { capability: query.capability, skill: query.skill, limit: query.limit, cursor: query.cursor },
        policy: 'idempotent',
      },
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

  /**
   * The A2A Agent Card a live instance registered, as it registered it. MeshApiError 404
   * `agent_card_not_found` when it has none, `instance_not_found` when it is not live.
   */
  getAgentCard(id: string, options: CallOptions = {}): Promise<AgentCard> {
    return this.json<AgentCard>({ method: 'GET', path: `/registry/agents/${enc(id)}/agent-card`, policy: 'idempotent' }, options);
  }

  /** The registry's own A2A Agent Card (GET /.well-known/agent-card.json): where its API is, what it offers. */
  registryCard(options: CallOptions = {}): Promise<AgentCard> {
    return this.json<AgentCard>({ method: 'GET', path: '/.well-known/agent-card.json', policy: 'idempotent' }, options);
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

  /**
   * Sends as `source`, with an Idempotency-Key (one per call unless given): retried after network
   * errors, timeouts and 5xx without ever queueing the message twice (see top).
   */
  send(source: string, body: SendRequest, options: SendCallOptions = {}): Promise<SendResponse> {
    const wire: Record<string, unknown> = {
      target_instance: body.target_instance ?? null,
      message_type: body.message_type,
      payload: body.payload,
      correlation_id: body.correlation_id ?? null,
    };
    if (body.target_capability) wire.target_capability = body.target_capability;
    return this.json<SendResponse>({ method: 'POST', path: `/messages/send/${enc(source)}`, body: wire, ...keyed(options) }, options);
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
   * for the Response. With its Idempotency-Key (one per call unless given) a retry after a lost
   * answer or a 5xx never sends a second Query: it gets the first Query's Response. The server's
   * own 504 `timeout` (no Response within timeout_ms) is an answer, not retried. MeshAgent.request
   * does the same on the client side, which needs no long-held request.
   */
  request(source: string, body: ServerRequestBody, options: SendCallOptions = {}): Promise<ServerRequestResponse> {
    const timeoutMs = body.timeout_ms ?? 30_000;
    return this.json<ServerRequestResponse>(
      { method: 'POST', path: `/messages/request/${enc(source)}`, body, ...keyed(options), extraTimeoutMs: timeoutMs, finalCodes: ['timeout'] },
      options,
    );
  }

  /** SSE: each un-acked message once per connection. Ends when the server closes the stream. */
  async *stream(id: string, options: StreamOptions = {}): AsyncGenerator<AgentMessage> {
    const path = `/messages/${enc(id)}/stream`;
    for await (const ev of this.sse(path, {}, options)) {
      if (ev.event === 'message') {
        yield JSON.parse(ev.data) as AgentMessage;
      } else if (ev.event === 'error') {
        throw this.streamError(path, ev.data);
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
          if (ev.event === 'error') throw this.streamError('/registry/events', ev.data);
          // `ready` only carries the starting cursor (kept above as lastId).
          if (ev.event === 'ready') continue;
          const event = toMeshEvent(ev);
          if (event) yield event;
        }
      } catch (err) {
        if (options.signal?.aborted) throw options.signal.reason;
        const again = err instanceof MeshNetworkError || (err instanceof MeshApiError && err.status >= 500);
        if (!reconnect || !again) throw err;
      }
      if (!reconnect) return;
      failures++;
      await delay(Math.max(100, backoffDelay(Math.min(failures, 6), this.opts.retryBaseMs, this.opts.retryMaxMs)), options.signal);
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

  private networkError(method: string, path: string, kind: NetworkErrorKind, errno: string | null, attempts: number, cause: unknown): MeshNetworkError {
    return new MeshNetworkError({ kind, errno, method, path, url: this.url + path, attempts, cause });
  }

  private streamError(path: string, data: string): MeshNetworkError {
    return this.networkError('GET', path, 'network', 'stream_error', 1, new Error(data));
  }

  /**
   * Runs `attempt` under the retry policy: p-retry paces the retries; a Retry-After from the
   * server is waited out first (capped at retryAfterMaxMs). The caller's signal ends it at once.
   */
  private async withRetries<T>(
    policy: RetryPolicy,
    retries: number,
    signal: AbortSignal | undefined,
    attempt: (n: number) => Promise<T>,
    finalCodes?: string[],
  ): Promise<T> {
    try {
      return await pRetry(attempt, {
        retries: policy === 'never' ? 0 : retries,
        minTimeout: this.opts.retryBaseMs,
        maxTimeout: this.opts.retryMaxMs,
        factor: 2,
        randomize: true,
        ...(signal ? { signal } : {}),
        shouldRetry: ({ error }) => retryable(policy, error, finalCodes),
        onFailedAttempt: async ({ error, retriesLeft }) => {
          if (retriesLeft > 0 && retryable(policy, error, finalCodes) && error instanceof MeshApiError && error.retryAfterMs) {
            await delay(Math.min(error.retryAfterMs, this.opts.retryAfterMaxMs), signal);
          }
        },
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw err;
    }
  }

  private async raw(req: Prepared, options: CallOptions): Promise<RawResult> {
    const url = this.buildUrl(req.path, req.query);
    const token = options.token === undefined ? this.token : options.token;
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);
    const headers = this.buildHeaders(req.headers, token, body !== undefined);
    const timeoutMs = (options.timeoutMs ?? this.opts.timeoutMs) + (req.extraTimeoutMs ?? 0);

    return this.withRetries(req.policy, options.retries ?? this.opts.retries, options.signal, async (attempt) => {
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
      let res: Response;
      let text: string;
      try {
        res = await this.fetchImpl(url, { method: req.method, headers, ...(body === undefined ? {} : { body }), signal });
        text = await res.text();
      } catch (err) {
        if (options.signal?.aborted) throw options.signal.reason;
        const kind: NetworkErrorKind = timeout.aborted ? 'timeout' : isConnectFailure(err) ? 'connect' : 'network';
        throw this.networkError(req.method, req.path, kind, kind === 'timeout' ? 'ETIMEDOUT' : (firstCode(err) ?? null), attempt, err);
      }
      const parsed = parseBody(text);
      if ((res.status >= 200 && res.status < 300) || req.passStatuses?.includes(res.status)) {
        return { status: res.status, body: parsed, attempts: attempt };
      }
      throw this.apiError(req.method, req.path, res.status, parsed, parseRetryAfter(res.headers.get('retry-after')), attempt);
    }, req.finalCodes);
  }

  /** Opens an SSE response (retrying the connection like an idempotent GET), then parses it. */
  private async *sse(path: string, extraHeaders: Record<string, string>, options: StreamOptions): AsyncGenerator<SseEvent> {
    const url = this.buildUrl(path);
    const token = options.token === undefined ? this.token : options.token;
    const headers = { ...this.buildHeaders(extraHeaders, token, false), accept: 'text/event-stream' };
    const connectTimeoutMs = options.timeoutMs ?? this.opts.timeoutMs;
    const idleMs = options.idleTimeoutMs ?? 60_000;

    const open = async (attempt: number) => {
      const controller = new AbortController();
      const onAbort = () => controller.abort(options.signal?.reason);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const state = { timedOut: false, timer: undefined as ReturnType<typeof setTimeout> | undefined };
      const arm = (ms: number) => {
        clearTimeout(state.timer);
        state.timer = setTimeout(() => {
          state.timedOut = true;
          controller.abort();
        }, ms);
      };
      const cleanup = () => {
        clearTimeout(state.timer);
        options.signal?.removeEventListener('abort', onAbort);
        controller.abort();
      };
      arm(connectTimeoutMs);
      let res: Response;
      try {
        options.signal?.throwIfAborted();
        res = await this.fetchImpl(url, { method: 'GET', headers, signal: controller.signal });
      } catch (err) {
        cleanup();
        if (options.signal?.aborted) throw options.signal.reason;
        const kind: NetworkErrorKind = state.timedOut ? 'timeout' : isConnectFailure(err) ? 'connect' : 'network';
        throw this.networkError('GET', path, kind, firstCode(err) ?? null, attempt, err);
      }
      if (res.status < 200 || res.status >= 300 || !res.body) {
        const text = await res.text().catch(() => '');
        cleanup();
        throw this.apiError('GET', path, res.status, parseBody(text), parseRetryAfter(res.headers.get('retry-after')), attempt);
      }
      return { res, body: res.body, attempt, state, arm, cleanup };
    };

    const stream = await this.withRetries('idempotent', options.retries ?? this.opts.retries, options.signal, open);
    // Connected: from now on the deadline is an idle timeout, re-armed by every chunk.
    stream.arm(idleMs);
    const chunks = (async function* () {
      for await (const chunk of stream.body as unknown as AsyncIterable<Uint8Array>) {
        stream.arm(idleMs);
        yield chunk;
      }
    })();
    try {
      yield* parseSse(chunks);
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw this.networkError('GET', path, stream.state.timedOut ? 'timeout' : 'network', firstCode(err) ?? null, stream.attempt, err);
    } finally {
      stream.cleanup();
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
