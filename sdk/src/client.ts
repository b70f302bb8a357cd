// MeshClient: one typed method per HTTP route of the registry, on the global fetch (no server
// dependencies). How requests are sent, retried and turned into errors is transport.ts; failures
// are MeshApiError (status + server code) or MeshNetworkError (transport).
import { backoffDelay } from './backoff.js';
import { delay } from './delay.js';
import { MeshApiError, MeshNetworkError } from './errors.js';
import { toMeshEvent } from './mesh-event.js';
import { isRecord, Transport, type CallOptions, type RetryPolicy, type StreamOptions, type TransportOptions } from './transport.js';
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

export { backoffDelay } from './backoff.js';
export { parseRetryAfter, type CallOptions, type RetryPolicy, type StreamOptions } from './transport.js';

export type MeshClientOptions = TransportOptions;

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

export interface EventsOptions extends StreamOptions {
  /** Resume after this event id (`since`): events after it, retained history permitting. */
  lastEventId?: string | undefined;
  /** Reconnect (with backoff, resuming from the last id) after network errors and 5xx (default true). 4xx always ends the feed. */
  reconnect?: boolean | undefined;
}

const enc = (segment: string): string => encodeURIComponent(segment);

/** The Idempotency-Key header for a send/request call, and the retry policy it allows. */
function keyed(options: SendCallOptions): { headers: Record<string, string>; policy: RetryPolicy } {
  const key = options.idempotencyKey === undefined ? globalThis.crypto.randomUUID() : options.idempotencyKey;
  return key === null ? { headers: {}, policy: 'connect-only' } : { headers: { 'idempotency-key': key }, policy: 'idempotent' };
}

export class MeshClient {
  private readonly transport: Transport;

  constructor(options: MeshClientOptions) {
    this.transport = new Transport(options);
  }

  /** Base URL of the registry, without a trailing slash. */
  get url(): string {
    return this.transport.url;
  }

  /** The default bearer token. */
  get token(): string | null {
    return this.transport.token;
  }

  /** The same client with another default bearer token. */
  withToken(token: string | null): MeshClient {
    return new MeshClient(this.transport.optionsWithToken(token));
  }

  // ---- registry ------------------------------------------------------------------------------

  register(body: RegisterRequest, options: RegisterOptions = {}): Promise<RegisterResponse> {
    const headers: Record<string, string> = {};
    if (options.instanceToken) headers['x-instance-token'] = options.instanceToken;
    return this.transport.json<RegisterResponse>(
      { method: 'POST', path: '/registry/register', body, headers, policy: 'idempotent' },
      options,
    );
  }

  /** One page of live instances (oldest first). */
  listAgents(query: AgentsQuery = {}, options: CallOptions = {}): Promise<AgentsResponse> {
    return this.transport.json<AgentsResponse>(
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
    return this.transport.json<MeshInstance>({ method: 'GET', path: `/registry/agents/${enc(id)}`, policy: 'idempotent' }, options);
  }

  /**
   * The A2A Agent Card a live instance registered, as it registered it. MeshApiError 404
   * `agent_card_not_found` when it has none, `instance_not_found` when it is not live.
   */
  getAgentCard(id: string, options: CallOptions = {}): Promise<AgentCard> {
    return this.transport.json<AgentCard>({ method: 'GET', path: `/registry/agents/${enc(id)}/agent-card`, policy: 'idempotent' }, options);
  }

  /** The registry's own A2A Agent Card (GET /.well-known/agent-card.json): where its API is, what it offers. */
  registryCard(options: CallOptions = {}): Promise<AgentCard> {
    return this.transport.json<AgentCard>({ method: 'GET', path: '/.well-known/agent-card.json', policy: 'idempotent' }, options);
  }

  leader(options: CallOptions = {}): Promise<LeaderInfo> {
    return this.transport.json<LeaderInfo>({ method: 'GET', path: '/registry/leader', policy: 'idempotent' }, options);
  }

  /**
   * Renews `id`. Resolves `{acknowledged: false}` (HTTP 404) when the registry no longer knows
   * the id (evicted, or its data was lost): the caller must register again.
   */
  async heartbeat(
    id: string,
    body: HeartbeatRequest = { status: 'healthy', metrics: null },
    options: CallOptions = {},
  ): Promise<HeartbeatResponse> {
    const path = `/registry/heartbeat/${enc(id)}`;
    const res = await this.transport.raw(
      { method: 'POST', path, body: { status: body.status, metrics: body.metrics ?? null }, policy: 'idempotent', passStatuses: [404] },
      options,
    );
    if (res.status === 404) {
      if (isRecord(res.body) && res.body.acknowledged === false) return res.body as unknown as HeartbeatResponse;
      throw this.transport.apiError('POST', path, 404, res.body, null, res.attempts);
    }
    return res.body as HeartbeatResponse;
  }

  /** true when removed, false when the id was not registered (or had lapsed). */
  async deregister(id: string, options: CallOptions = {}): Promise<boolean> {
    const path = `/registry/deregister/${enc(id)}`;
    const res = await this.transport.raw({ method: 'DELETE', path, policy: 'idempotent', passStatuses: [404] }, options);
    if (res.status === 404) {
      // Unknown id: `instance_not_found` (older servers: an empty body). Any other 404 means
      // something else, such as no such route.
      if (res.body === undefined || (isRecord(res.body) && res.body.code === 'instance_not_found')) return false;
      throw this.transport.apiError('DELETE', path, 404, res.body, null, res.attempts);
    }
    return true;
  }

  // ---- messages ------------------------------------------------------------------------------

  /**
   * Sends as `source`, with an Idempotency-Key (one per call unless given): retried after network
   * errors, timeouts and 5xx without ever queueing the message twice (transport.ts).
   */
  send(source: string, body: SendRequest, options: SendCallOptions = {}): Promise<SendResponse> {
    const wire: Record<string, unknown> = {
      target_instance: body.target_instance ?? null,
      message_type: body.message_type,
      payload: body.payload,
      correlation_id: body.correlation_id ?? null,
    };
    if (body.target_capability) wire.target_capability = body.target_capability;
    return this.transport.json<SendResponse>(
      { method: 'POST', path: `/messages/send/${enc(source)}`, body: wire, ...keyed(options) },
      options,
    );
  }

  /** Messages not yet acked by `id`, oldest first; `wait` long-polls. 404 `instance_not_found` when `id` is not live. */
  async fetchMessages(id: string, options: FetchOptions = {}): Promise<AgentMessage[]> {
    const wait = options.wait ?? 0;
    const res = await this.transport.json<MessagesResponse>(
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
      await this.transport.raw(
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
    return this.transport.json<ServerRequestResponse>(
      {
        method: 'POST',
        path: `/messages/request/${enc(source)}`,
        body,
        ...keyed(options),
        extraTimeoutMs: timeoutMs,
        finalCodes: ['timeout'],
      },
      options,
    );
  }

  /** SSE: each un-acked message once per connection. Ends when the server closes the stream. */
  async *stream(id: string, options: StreamOptions = {}): AsyncGenerator<AgentMessage> {
    const path = `/messages/${enc(id)}/stream`;
    for await (const ev of this.transport.sse(path, {}, options)) {
      if (ev.event === 'message') {
        yield JSON.parse(ev.data) as AgentMessage;
      } else if (ev.event === 'error') {
        throw this.transport.streamError(path, ev.data);
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
        for await (const ev of this.transport.sse('/registry/events', headers, { ...options, retries: 0 })) {
          failures = 0;
          if (ev.id) lastId = ev.id;
          if (ev.event === 'error') throw this.transport.streamError('/registry/events', ev.data);
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
      const { retryBaseMs, retryMaxMs } = this.transport.opts;
      await delay(Math.max(100, backoffDelay(Math.min(failures, 6), retryBaseMs, retryMaxMs)), options.signal);
    }
  }

  // ---- health --------------------------------------------------------------------------------

  /** 200 body; a not-ready server is MeshApiError 503 `unavailable` (after retries). */
  health(options: CallOptions = {}): Promise<HealthResponse> {
    return this.transport.json<HealthResponse>({ method: 'GET', path: '/health', policy: 'idempotent' }, options);
  }
}
