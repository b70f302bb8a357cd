// MeshAgent: a registered instance that stays registered. It heartbeats (interval ±10% jitter),
// registers again by itself when the registry forgot it (heartbeat or fetch answered 404: evicted
// after missed heartbeats, or Redis lost its data), tracks leadership with the term as a fencing
// token, runs a long-poll message loop that acks a message only after its handler resolved, and
// does request/response on the client side (a Query with a fresh correlation_id; the loop
// resolves the waiting call when the Response with that id arrives), which works through any
// replica and any load balancer because nothing waits on a particular server.
import { backoffDelay, MeshClient, type MeshClientOptions } from './client.js';
import { delay } from './delay.js';
import { TypedEmitter } from './emitter.js';
import { MeshApiError, MeshClosedError, MeshHandlerError, MeshNetworkError, MeshTimeoutError } from './errors.js';
import { closeOnSignals, type SignalName } from './signals.js';
import { isMessageTypeName, messageTypeName, toMessageType, type MessageTypeName } from './message-types.js';
import type { AgentCard, AgentMessage, HeartbeatRequest, Json, MeshEvent, MessageType, RegisterRequest, SendRequest, SendResponse } from './types.js';

export interface MeshAgentOptions {
  /** Registry (or load balancer) base URL. */
  url: string;
  /** Default `<hostname>-<uuid>`, like the seed. */
  instanceId?: string;
  hostname: string;
  port: number;
  capabilities?: string[];
  agentProfiles?: string[];
  /**
   * The agent's A2A v1.0 Agent Card, registered with it (and again whenever it re-registers).
   * Other agents find it by its skill ids and tags (`listAgents({skill})`), read it
   * (`getAgentCard(id)`), and reach it with `sendToCapability(<skill id or tag>)`.
   */
  agentCard?: AgentCard;
  /**
   * Bearer for registering (AUTH_MODE=token: the shared token, used for every call;
   * AUTH_MODE=instance: the registration token if the server wants one). In instance mode the
   * agent uses the instance token returned by register for everything else.
   */
  token?: string | null;
  /** Heartbeat period (default 5000 ms), each tick jittered by ±10%. */
  heartbeatIntervalMs?: number;
  /** What each heartbeat reports (default `{status: 'healthy', metrics: null}`). */
  status?: () => HeartbeatRequest | Promise<HeartbeatRequest>;
  /**
   * Local leadership lease: a leader whose heartbeats have not been acknowledged for this long
   * steps down locally ('lost-leadership'), because the registry may already have replaced it.
   * Default 3 heartbeat intervals; keep it below the server's STALE_TIMEOUT_MS.
   */
  leaderLeaseMs?: number;
  /** Long-poll wait in seconds (default 25, max 60). */
  pollWaitSeconds?: number;
  /** Messages per fetch (default 100, max 1000). */
  fetchLimit?: number;
  /** Handlers running at once (default 8). Use 1 for strictly sequential handling. */
  concurrency?: number;
  /** Default timeout of request() (default 30000 ms). */
  requestTimeoutMs?: number;
  /** Follow GET /registry/events when the server has it (default true; a 404 turns it off). */
  watchEvents?: boolean;
  /** How long close() lets running handlers finish before deregistering (default 5000 ms). */
  closeDrainMs?: number;
  /**
   * Wait for the registry at start (like nats.js' waitOnFirstConnect): join()/start() keep
   * trying to register while the registry is unreachable or answers 5xx, instead of failing
   * after the client's few retries (~1 s). `true`: until it works or close() is called; a number:
   * give up after that many ms. A 4xx (bad registration, wrong token) still fails at once.
   * Each failed attempt is reported on 'error' (when listened to). Default false.
   */
  waitForRegistry?: boolean | number;
  /**
   * close() the agent (deregister) when the process gets one of these signals, then let the
   * signal do what it would have done (exit). `true` = ['SIGINT', 'SIGTERM']. Default off.
   * See also the closeOnSignals() helper for several agents.
   */
  closeOnSignals?: boolean | readonly SignalName[];
  /** Transport settings (timeouts, retries, custom fetch). */
  client?: Omit<MeshClientOptions, 'url' | 'token'>;
}

export interface LeaderChange {
  leaderId: string | null;
  term: number;
}

export interface HandlerContext {
  agent: MeshAgent;
  /** Sends a Response to the message's source with its correlation_id. */
  respond(payload: Json): Promise<SendResponse>;
  /** Aborted when the agent closes. */
  signal: AbortSignal;
}

export type MessageHandler = (message: AgentMessage, ctx: HandlerContext) => unknown;

export interface MeshAgentEvents {
  /**
   * This agent became leader. An election that happened inside join() is emitted again for
   * listeners attached right after `await MeshAgent.join()` (before awaiting anything else).
   */
  leader: [LeaderChange];
  /** This agent is no longer leader (another was elected, it was evicted, or its lease lapsed locally). */
  'lost-leadership': [LeaderChange];
  /** Any change of leader or term. */
  'leader-changed': [LeaderChange];
  /** Registered again after the registry forgot this instance. */
  reregistered: [{ id: string; leaderId: string | null; term: number }];
  /** Transport failures, handler failures (MeshHandlerError). Only emitted while someone listens. */
  error: [Error];
  /** A message no handler took (it is acked). */
  unhandled: [AgentMessage];
  /** An entry of the membership feed (when the server has /registry/events). */
  membership: [MeshEvent];
}

export type MeshAgentEventName = keyof MeshAgentEvents;

export interface SendOptions {
  correlationId?: string | null;
  /**
   * Idempotency-Key of this send. Default: a fresh one per call, so the client's retries (after
   * timeouts and 5xx) never queue it twice. Give your own to make a later call, or another
   * process, a retry of this one; null: no key (retried only when the connection never opened).
   */
  idempotencyKey?: string | null;
}

export interface RequestOptions {
  /** Default: the agent's requestTimeoutMs (30 s). */
  timeoutMs?: number;
  /** Default Query. */
  type?: MessageType | MessageTypeName;
}

/** Where a request goes: an instance id, or the least-loaded holder of a capability. */
export type RequestTarget = string | { capability: string };

interface Pending {
  resolve(m: AgentMessage): void;
  reject(e: Error): void;
}

interface Failure {
  attempts: number;
  retryAt: number;
}

const DEFAULT_SIGNALS: readonly SignalName[] = ['SIGINT', 'SIGTERM'];

const ID_SAFE = /[^A-Za-z0-9._:-]/g;
const IDLE_MIN_MS = 25;
const IDLE_MAX_MS = 1000;
const HANDLER_RETRY_BASE_MS = 200;
const HANDLER_RETRY_MAX_MS = 5000;

/** The registry cannot be reached (yet): worth waiting for, unlike a 4xx refusal. */
function unreachable(err: unknown): boolean {
  return err instanceof MeshNetworkError || (err instanceof MeshApiError && err.status >= 500);
}

/** `<hostname>-<uuid>`, trimmed and cleaned to the registry's id rule. */
export function generateInstanceId(hostname: string): string {
  let host = hostname.replace(ID_SAFE, '-').slice(0, 128 - 37);
  if (!/^[A-Za-z0-9]/.test(host)) host = `agent${host}`.slice(0, 128 - 37);
  return `${host}-${globalThis.crypto.randomUUID()}`;
}

export class MeshAgent {
  readonly id: string;
  private readonly events = new TypedEmitter<MeshAgentEvents>((err, event) => this.listenerFailed(err, event));
  private releaseSignals: (() => void) | null = null;
  /** Whether a `leader` event of this agent reached a listener (see start()). */
  private leaderHeard = false;
  private readonly opts: MeshAgentOptions;
  private readonly base: MeshClient;
  private readonly intervalMs: number;
  private readonly leaseMs: number;
  private readonly pollWait: number;
  private readonly fetchLimit: number;

  private instanceToken: string | null = null;
  private registrationGen = 0;
  private reregistering: Promise<void> | null = null;
  private started = false;

  private highestTerm = -1;
  private currentLeader: string | null = null;
  private leading = false;
  private lastAckAt = 0;

  private closed = false;
  private deregistered = false;
  private closing: Promise<void> | null = null;
  private readonly stop = new AbortController();
  private heartbeatTask: Promise<void> | null = null;
  private messageTask: Promise<void> | null = null;
  private eventsTask: Promise<void> | null = null;

  private readonly handlers = new Map<string, MessageHandler>();
  private anyHandler: MessageHandler | null = null;
  private readonly pending = new Map<string, Pending>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly failed = new Map<string, Failure>();
  /** Handled ids -> number of fetches started when their ack completed (0 while not yet acked). */
  private readonly done = new Map<string, number>();
  private readonly ackQueue = new Set<string>();
  private ackTask: Promise<void> | null = null;
  private fetchesStarted = 0;
  private wakeLoop: (() => void) | null = null;

  /** Prefer `MeshAgent.join()`, which registers and starts the loops. */
  constructor(options: MeshAgentOptions) {
    this.opts = options;
    this.id = options.instanceId ?? generateInstanceId(options.hostname);
    this.base = new MeshClient({ ...(options.client ?? {}), url: options.url, token: options.token ?? null });
    this.intervalMs = options.heartbeatIntervalMs ?? 5000;
    this.leaseMs = options.leaderLeaseMs ?? 3 * this.intervalMs;
    // The server's limits: wait <= 60 s, limit 1..1000.
    this.pollWait = Math.min(60, Math.max(0, options.pollWaitSeconds ?? 25));
    this.fetchLimit = Math.min(1000, Math.max(1, Math.floor(options.fetchLimit ?? 100)));
  }

  /** Registers, then heartbeats and serves messages until close(). */
  static async join(options: MeshAgentOptions): Promise<MeshAgent> {
    const agent = new MeshAgent(options);
    await agent.start();
    return agent;
  }

  // ---- state ---------------------------------------------------------------------------------

  get isLeader(): boolean {
    return this.leading;
  }

  get leaderId(): string | null {
    return this.currentLeader;
  }

  /** Highest term seen (-1 before the first registration). */
  get leaderTerm(): number {
    return this.highestTerm;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** A client that acts as this instance (carries its token). */
  get client(): MeshClient {
    return this.base.withToken(this.authToken());
  }

  private authToken(): string | null {
    return this.instanceToken ?? this.opts.token ?? null;
  }

  // ---- handlers ------------------------------------------------------------------------------

  /**
   * With a message type ("Query", "Custom:name", ...): sets the handler for that type (one per
   * type; a later call replaces it) and starts the message loop. Otherwise: EventEmitter.on.
   */
  on<K extends MeshAgentEventName>(event: K, listener: (...args: MeshAgentEvents[K]) => void): this;
  on(messageType: MessageTypeName, handler: MessageHandler): this;
  on(name: string, listener: (...args: never[]) => unknown): this {
    if (isMessageTypeName(name)) {
      this.handlers.set(name, listener as unknown as MessageHandler);
      this.startMessageLoop();
      return this;
    }
    this.events.on(name as MeshAgentEventName, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Like on(), for one call. */
  once<K extends MeshAgentEventName>(event: K, listener: (...args: MeshAgentEvents[K]) => void): this {
    const wrapped = (...args: MeshAgentEvents[K]) => {
      this.events.off(event, wrapped);
      listener(...args);
    };
    return this.on(event, wrapped as never);
  }

  /** Removes a message handler (by type) or an event listener. */
  off<K extends MeshAgentEventName>(event: K, listener: (...args: MeshAgentEvents[K]) => void): this;
  off(messageType: MessageTypeName, handler?: MessageHandler): this;
  off(name: string, listener?: (...args: never[]) => unknown): this {
    if (isMessageTypeName(name)) {
      if (!listener || this.handlers.get(name) === (listener as unknown)) this.handlers.delete(name);
      return this;
    }
    if (listener) this.events.off(name as MeshAgentEventName, listener as (...args: unknown[]) => void);
    return this;
  }

  listenerCount(event: MeshAgentEventName): number {
    return this.events.count(event);
  }

  private emit<K extends MeshAgentEventName>(event: K, ...args: MeshAgentEvents[K]): boolean {
    const heard = this.events.emit(event, ...args);
    if (event === 'leader' && heard) this.leaderHeard = true;
    return heard;
  }

  /** A listener threw: that is reported on 'error'; a throwing 'error' listener surfaces as uncaught. */
  private listenerFailed(err: unknown, event: MeshAgentEventName): void {
    if (event !== 'error' && this.events.count('error') > 0) {
      this.events.emit('error', err instanceof Error ? err : new Error(String(err)));
      return;
    }
    queueMicrotask(() => {
      throw err;
    });
  }

  /** Catch-all handler for messages without a type handler (one; a later call replaces it). */
  onMessage(handler: MessageHandler): this {
    this.anyHandler = handler;
    this.startMessageLoop();
    return this;
  }

  // ---- sending -------------------------------------------------------------------------------

  /** Sends to one instance (`target`), or broadcasts when `target` is null. */
  send(target: string | null, type: MessageType | MessageTypeName, payload: Json, options: SendOptions = {}): Promise<SendResponse> {
    return this.sendRaw(
      { target_instance: target, message_type: toMessageType(type), payload, correlation_id: options.correlationId ?? null },
      false,
      options.idempotencyKey,
    );
  }

  /** To every other live instance (not to this one). */
  broadcast(type: MessageType | MessageTypeName, payload: Json, options: Pick<SendOptions, 'idempotencyKey'> = {}): Promise<SendResponse> {
    return this.send(null, type, payload, options);
  }

  /** To the least-loaded live instance with `capability`, or with an A2A skill of that id or tag. */
  sendToCapability(capability: string, type: MessageType | MessageTypeName, payload: Json, options: SendOptions = {}): Promise<SendResponse> {
    return this.sendRaw(
      {
        target_instance: null,
        target_capability: capability,
        message_type: toMessageType(type),
        payload,
        correlation_id: options.correlationId ?? null,
      },
      false,
      options.idempotencyKey,
    );
  }

  /** Sends a Response to `to.source_instance` carrying `to.correlation_id`. */
  respond(to: AgentMessage, payload: Json): Promise<SendResponse> {
    return this.send(to.source_instance, 'Response', payload, { correlationId: to.correlation_id });
  }

  /** ctx.respond: also works while close() lets running handlers finish. */
  private respondFromHandler(to: AgentMessage, payload: Json): Promise<SendResponse> {
    return this.sendRaw(
      { target_instance: to.source_instance, message_type: 'Response', payload, correlation_id: to.correlation_id },
      true,
    );
  }

  /**
   * Sends a Query (or `type`) with a fresh correlation_id and resolves with the Response that
   * carries it. Rejects with MeshTimeoutError after `timeoutMs`, MeshApiError when the send is
   * refused (unknown target, no capable instance), MeshClosedError when the agent closes.
   */
  async request(target: RequestTarget, payload: Json, options: RequestOptions = {}): Promise<AgentMessage> {
    this.assertOpen();
    const correlationId = globalThis.crypto.randomUUID();
    const timeoutMs = options.timeoutMs ?? this.opts.requestTimeoutMs ?? 30_000;
    const type = toMessageType(options.type ?? 'Query');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answer = new Promise<AgentMessage>((resolve, reject) => {
      this.pending.set(correlationId, { resolve, reject });
      timer = setTimeout(() => {
        this.pending.delete(correlationId);
        reject(new MeshTimeoutError(`no Response to ${correlationId} within ${timeoutMs} ms`, correlationId));
      }, timeoutMs);
    });
    // Keep an unobserved rejection (e.g. a timeout while the send is still failing) quiet.
    answer.catch(() => undefined);
    this.startMessageLoop();
    try {
      await this.sendRaw({
        target_instance: typeof target === 'string' ? target : null,
        target_capability: typeof target === 'string' ? null : target.capability,
        message_type: type,
        payload,
        correlation_id: correlationId,
      });
      return await answer;
    } finally {
      clearTimeout(timer);
      this.pending.delete(correlationId);
    }
  }

  /**
   * `draining`: a handler's respond, allowed after close() began until the agent deregisters.
   * `idempotencyKey` undefined: the client makes one per call (its retries share it).
   */
  private async sendRaw(body: SendRequest, draining = false, idempotencyKey?: string | null): Promise<SendResponse> {
    if (!draining || this.deregistered) this.assertOpen();
    if (!this.started) throw new Error('MeshAgent is not registered yet: use MeshAgent.join() or await agent.start()');
    try {
      return await this.base.send(this.id, body, {
        token: this.authToken(),
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
        ...(this.closed ? {} : { signal: this.stop.signal }),
      });
    } catch (err) {
      // Our own registration vanished: re-register in the background; the caller sees the error.
      if (this.registrationGone(err)) void this.reregister(this.registrationGen).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Whether a failed call as this instance means the registry no longer has our registration:
   * 404 instance/source not found, or (AUTH_MODE=instance) 401 for our instance token, which the
   * registry revokes when it removes the instance.
   */
  private registrationGone(err: unknown): boolean {
    if (!(err instanceof MeshApiError)) return false;
    if (err.status === 404 && (err.code === 'instance_not_found' || err.code === 'source_not_found')) return true;
    return err.status === 401 && this.instanceToken !== null;
  }

  private assertOpen(): void {
    if (this.closed) throw new MeshClosedError();
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /**
   * Registers (throws when the registry refuses, or is unreachable unless `waitForRegistry`) and
   * starts the background loops. Attach `leader` and other listeners before it to see the
   * first events (a `leader` listener added later is still told when this agent leads).
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.assertOpen();
    this.started = true;
    if (this.opts.closeOnSignals) {
      this.releaseSignals = closeOnSignals(this, this.opts.closeOnSignals === true ? DEFAULT_SIGNALS : this.opts.closeOnSignals);
    }
    try {
      if (this.opts.waitForRegistry) {
        const wait = this.opts.waitForRegistry;
        await this.registerUntilDone(false, wait === true ? Number.POSITIVE_INFINITY : Date.now() + wait, unreachable);
      } else {
        await this.registerOnce(false);
      }
    } catch (err) {
      // A retried register whose first attempt did succeed leaves a live record whose instance
      // token we never saw (AUTH_MODE=instance): it answers 409 until it lapses. Wait it out.
      if (!(err instanceof MeshApiError && err.status === 409 && err.attempts > 1)) {
        this.startFailed();
        throw err;
      }
      try {
        await this.registerUntilDone(false, Date.now() + 60_000);
      } catch (again) {
        this.startFailed();
        throw again;
      }
    }
    this.heartbeatTask = this.heartbeatLoop();
    if (this.opts.watchEvents ?? true) this.eventsTask = this.eventsLoop();
    if (this.handlers.size > 0 || this.anyHandler) this.startMessageLoop();
    // Elected by its own registration, the agent emitted `leader` inside join(), before the
    // caller could listen. Emit it again once the caller's code right after `await join()` has
    // run (a timer fires after it), unless a listener already heard it (create-then-start).
    if (this.leading && !this.leaderHeard) {
      setTimeout(() => {
        if (this.leading && !this.leaderHeard && !this.closed) this.emit('leader', { leaderId: this.currentLeader, term: this.highestTerm });
      }, 0);
    }
  }

  private startFailed(): void {
    this.started = false;
    this.releaseSignals?.();
    this.releaseSignals = null;
  }

  /** Stops the loops, lets running handlers finish (closeDrainMs), flushes acks and deregisters. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      this.closed = true;
      this.releaseSignals?.();
      this.releaseSignals = null;
      this.stop.abort(new MeshClosedError());
      this.wakeLoop?.();
      for (const p of this.pending.values()) p.reject(new MeshClosedError('agent closed before the Response arrived'));
      this.pending.clear();
      await Promise.allSettled([this.heartbeatTask, this.messageTask, this.eventsTask, this.reregistering]);
      const drain = this.opts.closeDrainMs ?? 5000;
      if (this.inflight.size > 0) {
        let t: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([Promise.allSettled([...this.inflight.values()]), new Promise((r) => (t = setTimeout(r, drain)))]);
        clearTimeout(t);
      }
      await this.ackTask?.catch(() => undefined);
      await this.flushAcks().catch(() => undefined);
      this.deregistered = true;
      if (this.started) {
        try {
          await this.base.deregister(this.id, { token: this.authToken(), retries: 1 });
        } catch (err) {
          this.report(err);
        }
      }
      if (this.leading) {
        this.leading = false;
        this.emit('lost-leadership', { leaderId: null, term: this.highestTerm });
      }
    })();
    return this.closing;
  }

  // ---- registration --------------------------------------------------------------------------

  private registerBody(): RegisterRequest {
    return {
      instance_id: this.id,
      hostname: this.opts.hostname,
      port: this.opts.port,
      capabilities: this.opts.capabilities ?? [],
      agent_profiles: this.opts.agentProfiles ?? [],
      ...(this.opts.agentCard ? { agent_card: this.opts.agentCard } : {}),
    };
  }

  private async registerOnce(resetFence: boolean): Promise<void> {
    const res = await this.base.register(this.registerBody(), {
      token: this.opts.token ?? null,
      instanceToken: this.instanceToken,
      signal: this.stop.signal,
    });
    if (res.instance_token) this.instanceToken = res.instance_token;
    this.registrationGen++;
    this.lastAckAt = Date.now();
    this.applyLeader(res.leader_id, res.leader_term, resetFence);
  }

  /**
   * Registers with backoff until it works, the agent closes, `giveUpAt` passes or an error that
   * `retryable` refuses (then that error is thrown).
   */
  private async registerUntilDone(resetFence: boolean, giveUpAt = Number.POSITIVE_INFINITY, retryable: (err: unknown) => boolean = () => true): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.assertOpen();
      try {
        await this.registerOnce(resetFence);
        return;
      } catch (err) {
        if (this.closed) throw new MeshClosedError();
        if (Date.now() >= giveUpAt || !retryable(err)) throw err;
        this.report(err);
        await delay(Math.min(50 + backoffDelay(Math.min(attempt, 8), 250, 5000), Math.max(0, giveUpAt - Date.now())), this.stop.signal);
      }
    }
  }

  /**
   * Registers again after the registry answered 404 for registration `gen`. Concurrent callers
   * share one attempt; a caller whose 404 predates a newer registration does nothing.
   */
  private reregister(gen: number): Promise<void> {
    if (this.reregistering) return this.reregistering;
    if (gen !== this.registrationGen || this.closed || !this.started) return Promise.resolve();
    this.reregistering = (async () => {
      if (this.leading) {
        this.leading = false;
        this.emit('lost-leadership', { leaderId: null, term: this.highestTerm });
      }
      // The old registration's queues are gone: nothing pending there can be acked any more.
      this.failed.clear();
      this.done.clear();
      this.ackQueue.clear();
      await this.registerUntilDone(true);
      this.emit('reregistered', { id: this.id, leaderId: this.currentLeader, term: this.highestTerm });
    })().finally(() => {
      this.reregistering = null;
      this.wakeLoop?.();
    });
    return this.reregistering;
  }

  // ---- leadership ----------------------------------------------------------------------------

  /**
   * Takes leader info from the registry. Terms are fencing tokens: info with a lower term than
   * the highest seen is stale and ignored; within one term only a vacancy (leader null) is news.
   * `resetFence` (a registration after a 404) accepts any term: this registry starts the terms
   * after a data loss above every earlier one, but a server that restarts them at 1 (older
   * versions) would otherwise be fenced out forever; the new registration is the first truth.
   */
  private applyLeader(leaderId: string | null, term: number, resetFence = false): void {
    if (!resetFence) {
      if (term < this.highestTerm) return;
      if (term === this.highestTerm && leaderId !== null && this.currentLeader !== null && leaderId !== this.currentLeader) return;
    }
    const previous = this.currentLeader;
    const previousTerm = this.highestTerm;
    const was = this.leading;
    this.highestTerm = term;
    this.currentLeader = leaderId;
    this.leading = leaderId === this.id;
    const change: LeaderChange = { leaderId, term };
    if (was && !this.leading) this.emit('lost-leadership', change);
    if (previous !== leaderId || previousTerm !== term) this.emit('leader-changed', change);
    if (!was && this.leading) this.emit('leader', change);
  }

  private checkLease(): void {
    if (this.leading && Date.now() - this.lastAckAt > this.leaseMs) {
      this.leading = false;
      this.emit('lost-leadership', { leaderId: null, term: this.highestTerm });
    }
  }

  // ---- heartbeat -----------------------------------------------------------------------------

  private async heartbeatLoop(): Promise<void> {
    while (!this.closed) {
      const jitter = 1 + (Math.random() * 0.2 - 0.1);
      try {
        await delay(Math.max(1, Math.round(this.intervalMs * jitter)), this.stop.signal);
      } catch {
        return;
      }
      await this.beat();
    }
  }

  private async beat(): Promise<void> {
    if (this.reregistering) {
      await this.reregistering.catch(() => undefined);
      return;
    }
    const gen = this.registrationGen;
    try {
      const status = this.opts.status ? await this.opts.status() : { status: 'healthy', metrics: null };
      const res = await this.base.heartbeat(this.id, status, {
        token: this.authToken(),
        signal: this.stop.signal,
        timeoutMs: Math.max(1000, Math.min(10_000, 2 * this.intervalMs)),
        retries: 2,
      });
      if (!res.acknowledged) {
        await this.reregister(gen);
        return;
      }
      this.lastAckAt = Date.now();
      this.applyLeader(res.leader_id, res.leader_term);
    } catch (err) {
      if (this.closed) return;
      if (this.registrationGone(err)) {
        await this.reregister(gen).catch(() => undefined);
        return;
      }
      this.report(err);
      this.checkLease();
    }
  }

  // ---- membership feed (optional) ------------------------------------------------------------

  private async eventsLoop(): Promise<void> {
    let lastId: string | undefined;
    for (let failures = 0; !this.closed; ) {
      try {
        for await (const ev of this.base.events({
          signal: this.stop.signal,
          token: this.authToken(),
          reconnect: false,
          ...(lastId ? { lastEventId: lastId } : {}),
        })) {
          failures = 0;
          if (ev.id) lastId = ev.id;
          if (ev.type === 'leader' && ev.term !== null) this.applyLeader(ev.instance_id, ev.term);
          this.emit('membership', ev);
        }
      } catch (err) {
        if (this.closed) return;
        // No such route (older server) or not allowed: the feed is optional, heartbeats suffice.
        if (err instanceof MeshApiError && err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 403) return;
        if (!(err instanceof MeshNetworkError)) this.report(err);
      }
      failures++;
      try {
        await delay(100 + backoffDelay(Math.min(failures, 7), 250, 10_000), this.stop.signal);
      } catch {
        return;
      }
    }
  }

  // ---- message loop --------------------------------------------------------------------------

  private startMessageLoop(): void {
    if (this.messageTask || !this.started || this.closed) return;
    this.messageTask = this.messageLoop();
  }

  private async messageLoop(): Promise<void> {
    let errors = 0;
    let idle = IDLE_MIN_MS;
    while (!this.closed) {
      if (this.reregistering) await this.reregistering.catch(() => undefined);
      if (this.closed) return;
      const gen = this.registrationGen;
      const fetchNo = ++this.fetchesStarted;
      let messages: AgentMessage[];
      try {
        messages = await this.base.fetchMessages(this.id, {
          wait: this.pollWait,
          limit: this.fetchLimit,
          token: this.authToken(),
          signal: this.stop.signal,
        });
        errors = 0;
      } catch (err) {
        if (this.closed) return;
        if (this.registrationGone(err)) {
          await this.reregister(gen).catch(() => undefined);
          continue;
        }
        this.report(err);
        errors++;
        await this.idleWait(50 + backoffDelay(Math.min(errors, 7), 200, 5000));
        continue;
      }
      if (gen !== this.registrationGen) continue;
      const { progressed, nextRetryAt } = this.dispatch(messages, fetchNo);
      if (!progressed && messages.length > 0) {
        // Everything returned is running, failed recently or awaiting its ack: the server would
        // answer at once again, so wait a little (woken early when a handler or ack finishes).
        const untilRetry = nextRetryAt === null ? idle : Math.max(IDLE_MIN_MS, Math.min(idle, nextRetryAt - Date.now()));
        await this.idleWait(untilRetry);
        idle = Math.min(IDLE_MAX_MS, idle * 2);
      } else {
        idle = IDLE_MIN_MS;
      }
    }
  }

  private idleWait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeLoop = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeLoop = done;
      if (this.closed) done();
    });
  }

  private dispatch(messages: AgentMessage[], fetchNo: number): { progressed: boolean; nextRetryAt: number | null } {
    const now = Date.now();
    const limit = this.fetchLimit;
    const concurrency = this.opts.concurrency ?? 8;
    const seen = new Set<string>();
    let progressed = false;
    let nextRetryAt: number | null = null;
    for (const m of messages) {
      const mid = m.message_id;
      seen.add(mid);
      if (this.inflight.has(mid)) continue;
      const ackedAt = this.done.get(mid);
      if (ackedAt !== undefined) {
        // Returned by a fetch that started after its ack completed: the ack did not stick; ack again.
        if (ackedAt > 0 && fetchNo > ackedAt) this.queueAck(mid);
        continue;
      }
      const failure = this.failed.get(mid);
      if (failure && failure.retryAt > now) {
        nextRetryAt = nextRetryAt === null ? failure.retryAt : Math.min(nextRetryAt, failure.retryAt);
        continue;
      }
      if (m.message_type === 'Response' && m.correlation_id !== null) {
        const waiter = this.pending.get(m.correlation_id);
        if (waiter) {
          this.pending.delete(m.correlation_id);
          waiter.resolve(m);
          this.markDone(mid);
          progressed = true;
          continue;
        }
      }
      if (this.inflight.size >= concurrency) continue;
      this.run(m);
      progressed = true;
    }
    // Forget bookkeeping for ids the server no longer returns (only from a complete view, and for
    // acked ids only once a fetch that started after the ack shows them gone).
    if (messages.length < limit) {
      for (const mid of this.failed.keys()) if (!seen.has(mid) && !this.inflight.has(mid)) this.failed.delete(mid);
      for (const [mid, ackedAt] of this.done) if (!seen.has(mid) && ackedAt > 0 && fetchNo > ackedAt) this.done.delete(mid);
    }
    return { progressed, nextRetryAt };
  }

  private handlerFor(m: AgentMessage): MessageHandler | null {
    return this.handlers.get(messageTypeName(m.message_type)) ?? this.anyHandler;
  }

  private run(m: AgentMessage): void {
    const mid = m.message_id;
    const handler = this.handlerFor(m);
    const ctx: HandlerContext = {
      agent: this,
      respond: (payload) => this.respondFromHandler(m, payload),
      signal: this.stop.signal,
    };
    const task = (async () => {
      if (!handler) {
        this.emit('unhandled', m);
        return;
      }
      await handler(m, ctx);
    })().then(
      () => {
        this.failed.delete(mid);
        this.markDone(mid);
      },
      (err: unknown) => {
        const f = this.failed.get(mid) ?? { attempts: 0, retryAt: 0 };
        f.attempts++;
        const cap = Math.min(HANDLER_RETRY_MAX_MS, HANDLER_RETRY_BASE_MS * 2 ** (f.attempts - 1));
        f.retryAt = Date.now() + cap / 2 + Math.random() * (cap / 2);
        this.failed.set(mid, f);
        this.report(new MeshHandlerError(mid, messageTypeName(m.message_type), f.attempts, err));
      },
    ).finally(() => {
      this.inflight.delete(mid);
      this.wakeLoop?.();
    });
    this.inflight.set(mid, task);
  }

  // ---- acks ----------------------------------------------------------------------------------

  private markDone(mid: string): void {
    this.done.set(mid, 0);
    this.queueAck(mid);
  }

  private queueAck(mid: string): void {
    this.ackQueue.add(mid);
    if (!this.ackTask) {
      this.ackTask = this.flushAcks().finally(() => {
        this.ackTask = null;
        this.wakeLoop?.();
      });
    }
  }

  private async flushAcks(): Promise<void> {
    for (let failures = 0; this.ackQueue.size > 0; ) {
      const batch = [...this.ackQueue];
      this.ackQueue.clear();
      const gen = this.registrationGen;
      try {
        await this.base.ack(this.id, batch, { token: this.authToken() });
        // Later fetches that started before now may still list them; see dispatch().
        const mark = this.fetchesStarted;
        if (gen === this.registrationGen) for (const mid of batch) if (this.done.has(mid)) this.done.set(mid, mark);
        failures = 0;
      } catch (err) {
        this.report(err);
        // 4xx: the registration is gone (its queues with it) or we may not ack: nothing to retry.
        if (this.closed || (err instanceof MeshApiError && err.status < 500)) return;
        for (const mid of batch) this.ackQueue.add(mid);
        failures++;
        await delay(50 + backoffDelay(Math.min(failures, 7), 200, 5000));
      }
    }
  }

  // ---- errors --------------------------------------------------------------------------------

  private report(err: unknown): void {
    if (err instanceof MeshClosedError && this.closed) return;
    if (this.events.count('error') === 0) return;
    this.emit('error', err instanceof Error ? err : new Error(String(err)));
  }
}
