// Simulated agents doing real work through the load balancer, with a ledger that lets a fault test
// prove what was delivered:
//   - heartbeats every `heartbeatMs` (a 404 means the registry forgot us: register again at once,
//     as the SDK does), failures retried after a short pause;
//   - a long-poll message loop that checks every message was meant for this agent, records it,
//     answers Queries with a Response (same correlation_id) and acks what it processed;
//   - targeted sends, broadcasts and request/response (client-side correlation like the SDK, or
//     the server-side POST /messages/request), each retried on 0/502/503/504 (the "in-flight"
//     failures) until it is acknowledged.
// An acknowledged send is one answered 200 {status: "queued"}: the ledger keeps those, keyed by a
// unique payload key, and `verify()` says which of them never arrived.
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { Api, retryable, sleep, type Outcome } from './http.js';
import type { LeaderSafety } from './leader-safety.js';

export interface WireMessage {
  message_id: string;
  source_instance: string;
  target_instance: string | null;
  message_type: unknown;
  payload: unknown;
  correlation_id: string | null;
  created_at: string;
}

interface Payload {
  k: string;
  to: string;
  from: string;
}

function isPayload(p: unknown): p is Payload {
  return typeof p === 'object' && p !== null && typeof (p as Payload).k === 'string' && typeof (p as Payload).to === 'string';
}

/**
 * 400 target_not_found: the target is not (yet) registered, e.g. right after Redis lost its data
 * and before it registered again. Retried like an in-flight failure; a test where targets never
 * lapse sees it in its CallLog as a failure.
 */
function targetGone(o: Outcome): boolean {
  return o.status === 400 && (o.body as { code?: string } | null)?.code === 'target_not_found';
}

export class Ledger {
  /** Acknowledged targeted sends: key -> target. */
  readonly targeted = new Map<string, { to: string; from: string; messageId: string; ackedAt: number }>();
  /** Acknowledged broadcasts: key -> delivered_to. */
  readonly broadcasts = new Map<string, { from: string; deliveredTo: string[]; messageId: string; ackedAt: number }>();
  /**
   * agent -> payload key -> times fetched. More than once is allowed (at-least-once): a message
   * fetched again before its ack stuck, or a send retried after a 503/502 whose first attempt had
   * been queued after all (a timed-out command still runs when Redis gets to it).
   */
  readonly received = new Map<string, Map<string, number>>();
  /** agent -> payload key -> the message ids it came under (two ids: the send itself was queued twice). */
  readonly receivedIds = new Map<string, Map<string, Set<string>>>();
  /** Send answers that were replays of an earlier attempt with the same Idempotency-Key. */
  replays = 0;
  /** Payload key -> its send attempts, in order (how each logical send went). */
  readonly attempts = new Map<string, { status: number; sentAt: number }[]>();
  readonly wrong: string[] = [];
  sends = 0;
  sendGaveUp = 0;
  requestsOk = 0;
  requestRetries = 0;
  requestGaveUp = 0;

  noteReceived(agent: string, key: string, messageId?: string): void {
    let m = this.received.get(agent);
    if (!m) this.received.set(agent, (m = new Map<string, number>()));
    m.set(key, (m.get(key) ?? 0) + 1);
    if (messageId === undefined) return;
    let ids = this.receivedIds.get(agent);
    if (!ids) this.receivedIds.set(agent, (ids = new Map<string, Set<string>>()));
    let set = ids.get(key);
    if (!set) ids.set(key, (set = new Set()));
    set.add(messageId);
  }

  /**
   * Payload keys a recipient got under more than one message id: a send queued twice (a retry of
   * an attempt that had been queued after all), as opposed to one message fetched twice.
   */
  queuedTwice(): string[] {
    const out: string[] = [];
    for (const [agent, ids] of this.receivedIds) for (const [k, set] of ids) if (set.size > 1) out.push(`${agent}<-${k} x${set.size}`);
    return out;
  }

  has(agent: string, key: string): boolean {
    return this.received.get(agent)?.has(key) ?? false;
  }

  /** Acknowledged targeted messages whose target never fetched them. */
  missingTargeted(only?: (to: string) => boolean, ackedAfter = 0): string[] {
    const out: string[] = [];
    for (const [k, v] of this.targeted)
      if (v.ackedAt > ackedAfter && (!only || only(v.to)) && !this.has(v.to, k)) out.push(`${k} -> ${v.to}`);
    return out;
  }

  /** Acknowledged broadcasts not fetched by a recipient listed in delivered_to. */
  missingBroadcasts(only: (to: string) => boolean, ackedAfter = 0): string[] {
    const out: string[] = [];
    for (const [k, v] of this.broadcasts) {
      if (v.ackedAt <= ackedAfter) continue;
      for (const r of v.deliveredTo) if (only(r) && !this.has(r, k)) out.push(`${k} -> ${r}`);
    }
    return out;
  }

  /** The most re-delivered copies (a message whose ack does not stick shows up here). */
  mostRedelivered(n = 5): string[] {
    const all: [string, number][] = [];
    for (const [agent, m] of this.received)
      for (const [k, c] of m) if (c > 1) all.push([`${agent}<-${k}${this.broadcasts.has(k) ? ' (broadcast)' : ''}`, c]);
    return all
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, c]) => `${k} x${c}`);
  }

  redeliveries(): number {
    let n = 0;
    for (const m of this.received.values()) for (const c of m.values()) if (c > 1) n += c - 1;
    return n;
  }
}

export interface AgentOptions {
  id: string;
  api: Api;
  ledger: Ledger;
  heartbeatMs: number;
  safety?: LeaderSafety;
  capabilities?: string[];
  /** Run the message loop (default true). A "mailbox" agent leaves its inbox untouched. */
  consume?: boolean;
  /** Long-poll wait in seconds (default 2). */
  pollWaitS?: number;
  /** Sends carry `Idempotency-Key: <payload key>`: their retries can never queue them twice. */
  idempotencyKeys?: boolean;
}

interface Pending {
  resolve: () => void;
}

export class FaultAgent {
  readonly id: string;
  registered = false;
  registrations = 0;
  /** Times the registry forgot us and we registered again. */
  reregistrations = 0;
  lastLeader: { leader: string | null; term: number } | null = null;
  /** When set, heartbeats stop (the agent lapses) but the loops keep running. */
  heartbeatsPaused = false;
  private readonly stopCtl = new AbortController();
  private hbTask: Promise<void> | null = null;
  private msgTask: Promise<void> | null = null;
  private readonly pending = new Map<string, Pending>();
  private reregistering: Promise<void> | null = null;
  /** Targeted Notifications in the order fetched, per source and all together under '*' (FIFO check). */
  readonly fetchedOrder = new Map<string, { key: string; createdAt: string; seq: number }[]>();

  constructor(readonly opts: AgentOptions) {
    this.id = opts.id;
    // Every pending request's timeout sleep listens on it.
    setMaxListeners(0, this.stopCtl.signal);
  }

  private get api(): Api {
    return this.opts.api;
  }

  get stopped(): boolean {
    return this.stopCtl.signal.aborted;
  }

  private observeLeader(source: string, body: unknown, sentAt: number, receivedAt: number): void {
    if (!body || typeof body !== 'object') return;
    const b = body as { leader_id?: unknown; leader_term?: unknown };
    if (typeof b.leader_term !== 'number') return;
    this.lastLeader = { leader: typeof b.leader_id === 'string' ? b.leader_id : null, term: b.leader_term };
    this.opts.safety?.observe(source, b.leader_id, b.leader_term, sentAt, receivedAt);
  }

  /** Registers, retrying retryable failures until it works (or the agent stops). */
  async register(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      const o = await this.api.call('register', 'POST', '/registry/register', {
        instance_id: this.id,
        hostname: `${this.id}.test`,
        port: 4000,
        capabilities: this.opts.capabilities ?? [],
        agent_profiles: [],
      });
      if (o.ok) {
        this.registered = true;
        this.registrations++;
        this.observeLeader(`${this.id}/register`, o.body, o.sentAt, o.receivedAt);
        return;
      }
      if (!retryable(o.status)) throw new Error(`register ${this.id}: ${o.status} ${JSON.stringify(o.body)}`);
      await sleep(Math.min(100 * 2 ** attempt, 1000), this.stopCtl.signal);
    }
  }

  private reregister(): Promise<void> {
    if (!this.reregistering) {
      this.reregistering = (async () => {
        this.registered = false;
        this.reregistrations++;
        await this.register();
      })().finally(() => {
        this.reregistering = null;
      });
    }
    return this.reregistering;
  }

  async start(): Promise<void> {
    await this.register();
    this.hbTask = this.heartbeatLoop();
    if (this.opts.consume ?? true) this.msgTask = this.messageLoop();
  }

  /** Stops the loops; `deregister` leaves gracefully (204), otherwise the agent just goes silent. */
  async stop(opts: { deregister?: boolean } = {}): Promise<void> {
    this.stopCtl.abort();
    await Promise.allSettled([this.hbTask, this.msgTask]);
    if (opts.deregister) {
      for (let i = 0; i < 10; i++) {
        const o = await this.api.call('deregister', 'DELETE', `/registry/deregister/${this.id}`);
        if (o.status === 204 || o.status === 404) break;
        await sleep(200);
      }
      this.registered = false;
    }
  }

  async heartbeatOnce(): Promise<number> {
    const o = await this.api.call(
      'heartbeat',
      'POST',
      `/registry/heartbeat/${this.id}`,
      { status: 'healthy', metrics: { t: Date.now() } },
      5000,
    );
    this.observeLeader(`${this.id}/heartbeat`, o.body, o.sentAt, o.receivedAt);
    if (o.status === 404) await this.reregister();
    return o.status;
  }

  private async heartbeatLoop(): Promise<void> {
    const signal = this.stopCtl.signal;
    while (!signal.aborted) {
      await sleep(this.opts.heartbeatMs, signal);
      if (signal.aborted) return;
      if (this.heartbeatsPaused || this.reregistering) continue;
      // Retry a failed beat quickly: one lost beat must not cost the registration.
      for (let attempt = 0; !signal.aborted && !this.heartbeatsPaused; attempt++) {
        const status = await this.heartbeatOnce();
        if (!retryable(status)) break;
        await sleep(Math.min(100 * 2 ** attempt, 500), signal);
      }
    }
  }

  private async messageLoop(): Promise<void> {
    const signal = this.stopCtl.signal;
    const wait = this.opts.pollWaitS ?? 2;
    let seq = 0;
    while (!signal.aborted) {
      if (this.reregistering) await this.reregistering.catch(() => undefined);
      const o = await this.api.call<{ messages: WireMessage[] }>(
        'fetch',
        'GET',
        `/messages/${this.id}?wait=${wait}&limit=200`,
        undefined,
        (wait + 10) * 1000,
      );
      if (signal.aborted) return;
      if (o.status === 404) {
        await this.reregister().catch(() => undefined);
        continue;
      }
      if (!o.ok || !o.body) {
        await sleep(200, signal);
        continue;
      }
      const ids: string[] = [];
      for (const m of o.body.messages) {
        ids.push(m.message_id);
        this.check(m, seq++);
        if (typeof m.message_type === 'string' && m.message_type === 'Query' && m.correlation_id) {
          await this.respond(m);
        } else if (m.message_type === 'Response' && m.correlation_id) {
          this.pending.get(m.correlation_id)?.resolve();
        }
      }
      if (ids.length > 0) await this.ack(ids);
    }
  }

  private check(m: WireMessage, seq: number): void {
    const { ledger } = this.opts;
    const p = m.payload;
    if (m.target_instance !== null && m.target_instance !== this.id) {
      ledger.wrong.push(`${this.id} got ${m.message_id} addressed to ${m.target_instance}`);
    }
    if (m.target_instance === null && m.source_instance === this.id) {
      ledger.wrong.push(`${this.id} got its own broadcast ${m.message_id}`);
    }
    if (!isPayload(p)) return;
    if (p.to !== '*' && p.to !== this.id) ledger.wrong.push(`${this.id} got ${p.k} meant for ${p.to}`);
    ledger.noteReceived(this.id, p.k, m.message_id);
    if (p.to === this.id && m.message_type === 'Notification') {
      for (const k of [m.source_instance, '*']) {
        let list = this.fetchedOrder.get(k);
        if (!list) this.fetchedOrder.set(k, (list = []));
        list.push({ key: p.k, createdAt: m.created_at, seq });
      }
    }
  }

  private async respond(m: WireMessage): Promise<void> {
    for (let attempt = 0; attempt < 20 && !this.stopped; attempt++) {
      const o = await this.api.call('respond', 'POST', `/messages/send/${this.id}`, {
        target_instance: m.source_instance,
        message_type: 'Response',
        payload: { re: (m.payload as { k?: string } | null)?.k ?? null },
        correlation_id: m.correlation_id,
      });
      if (o.ok || !retryable(o.status)) return;
      await sleep(100 * (attempt + 1), this.stopCtl.signal);
    }
  }

  private async ack(ids: string[]): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      const o = await this.api.call('ack', 'POST', `/messages/ack/${this.id}`, { message_ids: ids });
      if (o.ok || !retryable(o.status)) return;
      await sleep(Math.min(100 * 2 ** attempt, 1000), this.stopCtl.signal);
    }
  }

  /**
   * Sends `payload` (targeted, or broadcast when `to` is '*'), retrying in-flight failures until it
   * is acknowledged; records acknowledged sends in the ledger. Returns false if it gave up.
   */
  async send(to: string, key: string, maxAttempts = 30): Promise<boolean> {
    const { ledger } = this.opts;
    ledger.sends++;
    const payload: Payload = { k: key, to, from: this.id };
    const headers: Record<string, string> = this.opts.idempotencyKeys ? { 'idempotency-key': key } : {};
    for (let attempt = 0; attempt < maxAttempts && !this.stopped; attempt++) {
      const o = await this.api.call<{ message_id: string; status: string; delivered_to: string[] }>(
        'send',
        'POST',
        `/messages/send/${this.id}`,
        {
          target_instance: to === '*' ? null : to,
          message_type: 'Notification',
          payload,
          correlation_id: null,
        },
        10_000,
        headers,
      );
      if (o.replayed) ledger.replays++;
      const tried = ledger.attempts.get(key) ?? [];
      tried.push({ status: o.status, sentAt: o.sentAt });
      ledger.attempts.set(key, tried);
      if (o.ok && o.body) {
        if (to === '*')
          ledger.broadcasts.set(key, {
            from: this.id,
            deliveredTo: o.body.delivered_to,
            messageId: o.body.message_id,
            ackedAt: o.receivedAt,
          });
        else ledger.targeted.set(key, { to, from: this.id, messageId: o.body.message_id, ackedAt: o.receivedAt });
        return true;
      }
      if (o.status === 404) await this.reregister().catch(() => undefined);
      else if (!retryable(o.status) && !targetGone(o)) throw new Error(`send ${key}: ${o.status} ${JSON.stringify(o.body)}`);
      await sleep(Math.min(50 * 2 ** attempt, 1000), this.stopCtl.signal);
    }
    if (!this.stopped) ledger.sendGaveUp++;
    return false;
  }

  /**
   * Request/response. `server`: POST /messages/request (the replica waits for the Response);
   * otherwise a Query with a fresh correlation_id, answered through this agent's message loop.
   * A request that fails in flight or times out is sent again (new correlation id).
   */
  async request(to: string, key: string, opts: { server?: boolean; timeoutMs?: number; maxAttempts?: number } = {}): Promise<boolean> {
    const { ledger } = this.opts;
    const timeoutMs = opts.timeoutMs ?? 8000;
    // Failed sends back off like send(); an unanswered request is sent again a few times at most.
    const backoff = (attempt: number) => sleep(Math.min(50 * 2 ** attempt, 1000), this.stopCtl.signal);
    let unanswered = 0;
    for (let attempt = 0; attempt < (opts.maxAttempts ?? 30) && unanswered < 3 && !this.stopped; attempt++) {
      if (attempt > 0) ledger.requestRetries++;
      const payload: Payload = { k: `${key}#${attempt}`, to, from: this.id };
      if (opts.server) {
        const o = await this.api.call(
          'request',
          'POST',
          `/messages/request/${this.id}`,
          {
            target_instance: to,
            message_type: 'Query',
            payload,
            timeout_ms: timeoutMs,
          },
          timeoutMs + 5000,
        );
        if (o.ok) {
          ledger.requestsOk++;
          return true;
        }
        if (o.status === 404) await this.reregister().catch(() => undefined);
        else if (!retryable(o.status) && !targetGone(o)) throw new Error(`request ${key}: ${o.status} ${JSON.stringify(o.body)}`);
        if (o.status === 504) unanswered++;
        await backoff(attempt);
        continue;
      }
      const cid = randomUUID();
      let resolve!: () => void;
      const answered = new Promise<void>((r) => (resolve = r));
      this.pending.set(cid, { resolve });
      try {
        const o = await this.api.call(
          'query',
          'POST',
          `/messages/send/${this.id}`,
          {
            target_instance: to,
            message_type: 'Query',
            payload,
            correlation_id: cid,
          },
          10_000,
          this.opts.idempotencyKeys ? { 'idempotency-key': payload.k.replace('#', '.') } : {},
        );
        if (o.replayed) ledger.replays++;
        if (!o.ok) {
          if (o.status === 404) await this.reregister().catch(() => undefined);
          else if (!retryable(o.status) && !targetGone(o)) throw new Error(`query ${key}: ${o.status} ${JSON.stringify(o.body)}`);
          await backoff(attempt);
          continue;
        }
        const got = await Promise.race([answered.then(() => true), sleep(timeoutMs, this.stopCtl.signal).then(() => false)]);
        if (got) {
          ledger.requestsOk++;
          return true;
        }
        unanswered++;
      } finally {
        this.pending.delete(cid);
      }
    }
    if (!this.stopped) ledger.requestGaveUp++;
    return false;
  }
}

/**
 * FIFO for targeted messages, on first fetch of each (acknowledged) message:
 *  - per recipient, created_at (Redis time at queueing) never goes back in fetch order;
 *  - per (source -> recipient), messages arrive in the order the source sent them (each agent
 *    sends one at a time, and its keys carry an increasing counter).
 */
export function fifoViolations(agents: FaultAgent[], ledger: Ledger): string[] {
  const out: string[] = [];
  const counter = (key: string) => Number(key.slice(key.lastIndexOf(':') + 1));
  for (const a of agents) {
    for (const [source, list] of a.fetchedOrder) {
      const seen = new Set<string>();
      let lastCreated = '';
      let lastCounter = -1;
      for (const e of list) {
        if (seen.has(e.key)) continue;
        seen.add(e.key);
        if (!ledger.targeted.has(e.key)) continue;
        if (source === '*') {
          if (e.createdAt < lastCreated) out.push(`${a.id}: ${e.key} created ${e.createdAt} fetched after one created ${lastCreated}`);
          if (e.createdAt > lastCreated) lastCreated = e.createdAt;
        } else {
          const c = counter(e.key);
          if (Number.isFinite(c) && c < lastCounter)
            out.push(`${source} -> ${a.id}: ${e.key} fetched after a later send (#${lastCounter})`);
          if (c > lastCounter) lastCounter = c;
        }
      }
    }
  }
  return out;
}
