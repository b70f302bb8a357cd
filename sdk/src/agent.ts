// MeshAgent: a registered instance that stays registered. It heartbeats (interval ±10% jitter),
// registers again by itself when the registry forgot it (heartbeat or fetch answered 404: evicted
// after missed heartbeats, or Redis lost its data), tracks leadership with the term as a fencing
// token (agent/leadership.ts), runs a long-poll message loop that acks a message only after its
// handler resolved (agent/deliveries.ts), and does request/response on the client side (a Query
// with a fresh correlation_id, answered when the loop fetches the Response: agent/pending-requests.ts),
// which works through any replica and any load balancer because nothing waits on a particular server.
import { Deliveries } from './agent/deliveries.js';
import { IdleWait } from './agent/idle.js';
import { LeaderTracker } from './agent/leadership.js';
import type {
  HandlerContext,
  MeshAgentEventName,
  MeshAgentEvents,
  MeshAgentOptions,
  MessageHandler,
  RequestOptions,
  RequestTarget,
  SendOptions,
} from './agent/options.js';
import { PendingRequests } from './agent/pending-requests.js';
import { backoffDelay } from './backoff.js';
import { MeshClient } from './client.js';
import { delay } from './delay.js';
import { TypedEmitter } from './emitter.js';
import { MeshApiError, MeshClosedError, MeshNetworkError } from './errors.js';
import { isMessageTypeName, messageTypeName, toMessageType, type MessageTypeName } from './message-types.js';
import { closeOnSignals, type SignalName } from './signals.js';
import type { AgentMessage, Json, MessageType, RegisterRequest, SendRequest, SendResponse } from './types.js';

export type { LeaderChange } from './agent/leadership.js';
export type {
  HandlerContext,
  MeshAgentEventName,
  MeshAgentEvents,
  MeshAgentOptions,
  MessageHandler,
  RequestOptions,
  RequestTarget,
  SendOptions,
} from './agent/options.js';

const DEFAULT_SIGNALS: readonly SignalName[] = ['SIGINT', 'SIGTERM'];

const ID_SAFE = /[^A-Za-z0-9._:-]/g;
const IDLE_MIN_MS = 25;
const IDLE_MAX_MS = 1000;

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
  private readonly pollWait: number;
  private readonly fetchLimit: number;
  private readonly leadership: LeaderTracker;
  private readonly pending = new PendingRequests();
  private readonly deliveries: Deliveries;
  private readonly idle = new IdleWait();

  private instanceToken: string | null = null;
  private registrationGen = 0;
  private reregistering: Promise<void> | null = null;
  private started = false;

  private closed = false;
  private deregistered = false;
  private closing: Promise<void> | null = null;
  private readonly stop = new AbortController();
  private heartbeatTask: Promise<void> | null = null;
  private messageTask: Promise<void> | null = null;
  private eventsTask: Promise<void> | null = null;

  private readonly handlers = new Map<string, MessageHandler>();
  private anyHandler: MessageHandler | null = null;

  /** Prefer `MeshAgent.join()`, which registers and starts the loops. */
  constructor(options: MeshAgentOptions) {
    this.opts = options;
    this.id = options.instanceId ?? generateInstanceId(options.hostname);
    this.base = new MeshClient({ ...(options.client ?? {}), url: options.url, token: options.token ?? null });
    this.intervalMs = options.heartbeatIntervalMs ?? 5000;
    // The server's limits: wait <= 60 s, limit 1..1000.
    this.pollWait = Math.min(60, Math.max(0, options.pollWaitSeconds ?? 25));
    this.fetchLimit = Math.min(1000, Math.max(1, Math.floor(options.fetchLimit ?? 100)));
    this.leadership = new LeaderTracker(this.id, options.leaderLeaseMs ?? 3 * this.intervalMs, {
      elected: (change) => this.emit('leader', change),
      lost: (change) => this.emit('lost-leadership', change),
      changed: (change) => this.emit('leader-changed', change),
    });
    this.deliveries = new Deliveries(
      {
        handle: (m) => this.handle(m),
        takeResponse: (m) => this.pending.take(m),
        ack: (ids) => this.base.ack(this.id, ids, { token: this.authToken() }),
        registration: () => this.registrationGen,
        closed: () => this.closed,
        report: (err) => this.report(err),
        progressed: () => this.idle.wake(),
      },
      { concurrency: options.concurrency ?? 8, fetchLimit: this.fetchLimit },
    );
  }

  /** Registers, then heartbeats and serves messages until close(). */
  static async join(options: MeshAgentOptions): Promise<MeshAgent> {
    const agent = new MeshAgent(options);
    await agent.start();
    return agent;
  }

  // ---- state ---------------------------------------------------------------------------------

  get isLeader(): boolean {
    return this.leadership.isLeader;
  }

  get leaderId(): string | null {
    return this.leadership.leaderId;
  }

  /** Highest term seen (-1 before the first registration). */
  get leaderTerm(): number {
    return this.leadership.term;
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
  /** An async handler: the message is acked once its promise resolves, delivered again if it rejects. */
  on(messageType: MessageTypeName, handler: (message: AgentMessage, ctx: HandlerContext) => Promise<unknown>): this;
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

  /** Runs the handler for `m` (or reports it unhandled); rejects when the handler failed. */
  private async handle(m: AgentMessage): Promise<void> {
    const handler = this.handlers.get(messageTypeName(m.message_type)) ?? this.anyHandler;
    if (!handler) {
      this.emit('unhandled', m);
      return;
    }
    const ctx: HandlerContext = {
      agent: this,
      respond: (payload) => this.respondFromHandler(m, payload),
      signal: this.stop.signal,
    };
    await handler(m, ctx);
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
  sendToCapability(
    capability: string,
    type: MessageType | MessageTypeName,
    payload: Json,
    options: SendOptions = {},
  ): Promise<SendResponse> {
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
    const waiting = this.pending.wait(correlationId, options.timeoutMs ?? this.opts.requestTimeoutMs ?? 30_000);
    this.startMessageLoop();
    try {
      await this.sendRaw({
        target_instance: typeof target === 'string' ? target : null,
        target_capability: typeof target === 'string' ? null : target.capability,
        message_type: toMessageType(options.type ?? 'Query'),
        payload,
        correlation_id: correlationId,
      });
      return await waiting.answer;
    } finally {
      waiting.done();
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
    if (this.isLeader && !this.leaderHeard) {
      setTimeout(() => {
        if (this.isLeader && !this.leaderHeard && !this.closed) this.emit('leader', { leaderId: this.leaderId, term: this.leaderTerm });
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
      this.idle.wake();
      this.pending.rejectAll(() => new MeshClosedError('agent closed before the Response arrived'));
      await Promise.allSettled([this.heartbeatTask, this.messageTask, this.eventsTask, this.reregistering]);
      await this.deliveries.drain(this.opts.closeDrainMs ?? 5000);
      await this.deliveries.flush();
      this.deregistered = true;
      if (this.started) {
        try {
          await this.base.deregister(this.id, { token: this.authToken(), retries: 1 });
        } catch (err) {
          this.report(err);
        }
      }
      this.leadership.stepDown();
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
    this.leadership.acknowledged();
    this.leadership.update(res.leader_id, res.leader_term, resetFence);
  }

  /**
   * Registers with backoff until it works, the agent closes, `giveUpAt` passes or an error that
   * `retryable` refuses (then that error is thrown).
   */
  private async registerUntilDone(
    resetFence: boolean,
    giveUpAt = Number.POSITIVE_INFINITY,
    retryable: (err: unknown) => boolean = () => true,
  ): Promise<void> {
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
      this.leadership.stepDown();
      this.deliveries.forgetAll();
      await this.registerUntilDone(true);
      this.emit('reregistered', { id: this.id, leaderId: this.leaderId, term: this.leaderTerm });
    })().finally(() => {
      this.reregistering = null;
      this.idle.wake();
    });
    return this.reregistering;
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
      this.leadership.acknowledged();
      this.leadership.update(res.leader_id, res.leader_term);
    } catch (err) {
      if (this.closed) return;
      if (this.registrationGone(err)) {
        await this.reregister(gen).catch(() => undefined);
        return;
      }
      this.report(err);
      this.leadership.checkLease();
    }
  }

  // ---- membership feed (optional) ------------------------------------------------------------

  private async eventsLoop(): Promise<void> {
    let lastId: string | undefined;
    for (let failures = 0; !this.closed;) {
      try {
        for await (const ev of this.base.events({
          signal: this.stop.signal,
          token: this.authToken(),
          reconnect: false,
          ...(lastId ? { lastEventId: lastId } : {}),
        })) {
          failures = 0;
          if (ev.id) lastId = ev.id;
          if (ev.type === 'leader' && ev.term !== null) this.leadership.update(ev.instance_id, ev.term);
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
    const stopped = () => this.closed;
    while (!this.closed) {
      if (this.reregistering) await this.reregistering.catch(() => undefined);
      if (this.closed) return;
      const gen = this.registrationGen;
      const fetchNo = this.deliveries.fetchStarted();
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
        await this.idle.wait(50 + backoffDelay(Math.min(errors, 7), 200, 5000), stopped);
        continue;
      }
      if (gen !== this.registrationGen) continue;
      const { progressed, nextRetryAt } = this.deliveries.dispatch(messages, fetchNo);
      if (!progressed && messages.length > 0) {
        // Everything returned is running, failed recently or awaiting its ack: the server would
        // answer at once again, so wait a little (woken early when a handler or ack finishes).
        const untilRetry = nextRetryAt === null ? idle : Math.max(IDLE_MIN_MS, Math.min(idle, nextRetryAt - Date.now()));
        await this.idle.wait(untilRetry, stopped);
        idle = Math.min(IDLE_MAX_MS, idle * 2);
      } else {
        idle = IDLE_MIN_MS;
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
