// A fleet of simulated agents plus the traffic they generate, and the stack they talk to
// (N real replicas behind haproxy). Fault tests start a stack, start a fleet, inject their fault
// while `fleet.run()` generates traffic, then `fleet.drain()` and check `fleet.report()`.
import { startLoadBalancer, type LoadBalancer } from '../../helpers/lb.js';
import { uniqueNamespace } from '../../helpers/ns.js';
import { startReplicas, type Replica } from '../../helpers/replicas.js';
import { FaultAgent, Ledger, fifoViolations, type WireMessage } from './agents.js';
import { Api, CallLog, sleep } from './http.js';
import { LeaderSafety } from './leader-safety.js';

export interface Stack {
  namespace: string;
  replicas: Replica[];
  lb: LoadBalancer;
  url: string;
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Timings that keep fault tests quick: 1 s heartbeats, lapse after 6 s, cleanup every second. */
export const FAST_TIMINGS: Record<string, string> = {
  HEARTBEAT_INTERVAL_MS: '1000',
  STALE_TIMEOUT_MS: '6000',
  CLEANUP_INTERVAL_MS: '1000',
  LOG_LEVEL: 'warn',
};

export async function startStack(
  redisEnv: Record<string, string>,
  opts: { replicas?: number; env?: Record<string, string>; perReplica?: (i: number) => Record<string, string> } = {},
): Promise<Stack> {
  const namespace = uniqueNamespace('fault');
  const env = { ...FAST_TIMINGS, ...redisEnv, MESH_NAMESPACE: namespace, ...(opts.env ?? {}) };
  const replicas = await startReplicas(opts.replicas ?? 3, env, opts.perReplica);
  let lb: LoadBalancer;
  try {
    lb = await startLoadBalancer(replicas.map((r) => r.port));
  } catch (err) {
    await Promise.all(replicas.map((r) => r.stop()));
    throw err;
  }
  return {
    namespace,
    replicas,
    lb,
    url: lb.url,
    env,
    async stop() {
      await lb.stop().catch(() => undefined);
      await Promise.all(replicas.map((r) => r.stop().catch(() => undefined)));
    },
  };
}

export interface FleetOptions {
  url: string;
  /** Core agents: never leave, send and receive (default 6). */
  agents?: number;
  /**
   * Mailboxes: registered agents that never fetch during the run, so what is queued for them must
   * stay in Redis (a fast consumer would hide a write that vanishes later). They get a share of the
   * targeted sends (default 0 mailboxes) and are read at drain time.
   */
  mailboxes?: number;
  heartbeatMs?: number;
  /** Pause between two actions of one agent (default 150 ms). */
  thinkMs?: number;
  /** Share of actions that are broadcasts / client-side requests / server-side requests. */
  broadcastShare?: number;
  requestShare?: number;
  serverRequestShare?: number;
  /** Statuses that are expected answers rather than failures (see CallLog). */
  expected?: (op: string, status: number) => boolean;
  /** How the leader-safety checker follows GET /registry/events: SSE (default) or JSON pages (tests that wipe Redis). */
  feed?: 'sse' | 'json';
  /** Sends carry an Idempotency-Key (the payload key): retries never queue them twice. */
  idempotencyKeys?: boolean;
  prefix?: string;
}

export class Fleet {
  readonly log: CallLog;
  readonly api: Api;
  readonly ledger = new Ledger();
  readonly safety = new LeaderSafety();
  readonly agents: FaultAgent[] = [];
  readonly mailboxes: FaultAgent[] = [];
  private readonly opts: Required<Omit<FleetOptions, 'expected' | 'feed' | 'idempotencyKeys'>>;
  private readonly idempotencyKeys: boolean;
  private readonly feed: 'sse' | 'json';
  private traffic: Promise<void>[] = [];
  private readonly trafficStop = new AbortController();
  private readonly watchStop = new AbortController();
  private watchTask: Promise<void> | null = null;
  private counter = 0;
  epoch = 0;

  constructor(opts: FleetOptions) {
    this.opts = {
      url: opts.url,
      agents: opts.agents ?? 6,
      heartbeatMs: opts.heartbeatMs ?? 1000,
      thinkMs: opts.thinkMs ?? 150,
      broadcastShare: opts.broadcastShare ?? 0.1,
      requestShare: opts.requestShare ?? 0.15,
      serverRequestShare: opts.serverRequestShare ?? 0,
      prefix: opts.prefix ?? 'a',
      mailboxes: opts.mailboxes ?? 0,
    };
    this.feed = opts.feed ?? 'sse';
    this.idempotencyKeys = opts.idempotencyKeys ?? false;
    this.log = new CallLog(opts.expected ?? (() => false));
    this.api = new Api(opts.url, this.log);
  }

  agent(id: string, more: Partial<ConstructorParameters<typeof FaultAgent>[0]> = {}): FaultAgent {
    return new FaultAgent({
      id,
      api: this.api,
      ledger: this.ledger,
      heartbeatMs: this.opts.heartbeatMs,
      safety: this.safety,
      idempotencyKeys: this.idempotencyKeys,
      ...more,
    });
  }

  /** Registers the core agents (in order: the first one leads) and starts their loops. */
  async start(): Promise<void> {
    for (let i = 0; i < this.opts.agents; i++) {
      const a = this.agent(`${this.opts.prefix}${i}`);
      await a.start();
      this.agents.push(a);
    }
    for (let i = 0; i < this.opts.mailboxes; i++) {
      const m = this.agent(`mb${i}`, { consume: false });
      await m.start();
      this.mailboxes.push(m);
    }
    this.watchTask = this.safety.watch(this.api, this.watchStop.signal, { epoch: () => this.epoch, feed: this.feed });
  }

  private pickOther(self: FaultAgent, withMailboxes = false): FaultAgent {
    const others = [...this.agents, ...(withMailboxes ? this.mailboxes : [])].filter((a) => a !== self);
    return others[Math.floor(Math.random() * others.length)] as FaultAgent;
  }

  /** Reads (without acking) what is queued for the mailboxes into the ledger. */
  async collectMailboxes(): Promise<void> {
    for (const m of this.mailboxes) {
      const o = await this.api.call<{ messages: WireMessage[] }>('peek', 'GET', `/messages/${m.id}?limit=1000`);
      if (!o.ok || !o.body) continue;
      for (const msg of o.body.messages) {
        const p = msg.payload as { k?: unknown } | null;
        // Every copy's id (a key under two ids was queued twice), but each key counted once: a
        // mailbox is read again and again without acks.
        if (p && typeof p.k === 'string') {
          if (!this.ledger.has(m.id, p.k)) this.ledger.noteReceived(m.id, p.k, msg.message_id);
          else this.ledger.receivedIds.get(m.id)?.get(p.k)?.add(msg.message_id);
        }
      }
    }
  }

  /** Starts traffic: every core agent loops over targeted sends, broadcasts and requests. */
  startTraffic(): void {
    const { thinkMs, broadcastShare, requestShare, serverRequestShare } = this.opts;
    const signal = this.trafficStop.signal;
    this.traffic = this.agents.map(async (a) => {
      while (!signal.aborted) {
        const r = Math.random();
        const key = `${a.id}:${++this.counter}`;
        if (r < broadcastShare) await a.send('*', key);
        else if (r < broadcastShare + requestShare) await a.request(this.pickOther(a).id, key);
        else if (r < broadcastShare + requestShare + serverRequestShare) await a.request(this.pickOther(a).id, key, { server: true });
        else await a.send(this.pickOther(a, true).id, key);
        await sleep(thinkMs * (0.5 + Math.random()), signal);
      }
    });
  }

  async stopTraffic(): Promise<void> {
    this.trafficStop.abort();
    await Promise.allSettled(this.traffic);
  }

  /** Generates traffic for `ms` while `during()` runs (the fault), then stops the traffic. */
  async run(ms: number, during: () => Promise<void> = async () => undefined): Promise<void> {
    this.startTraffic();
    const deadline = Date.now() + ms;
    await during();
    const rest = deadline - Date.now();
    if (rest > 0) await sleep(rest);
    await this.stopTraffic();
  }

  /**
   * Waits until every acknowledged message (acknowledged after `ackedAfter`, default all) reached
   * its core recipients and mailboxes, or `timeoutMs`. Returns what is still missing.
   */
  async drain(timeoutMs = 20_000, opts: { ackedAfter?: number } = {}): Promise<{ targeted: string[]; broadcasts: string[] }> {
    const after = opts.ackedAfter ?? 0;
    const core = new Set([...this.agents, ...this.mailboxes].map((a) => a.id));
    const only = (id: string) => core.has(id);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.collectMailboxes();
      const targeted = this.ledger.missingTargeted(only, after);
      const broadcasts = this.ledger.missingBroadcasts(only, after);
      if ((targeted.length === 0 && broadcasts.length === 0) || Date.now() > deadline) return { targeted, broadcasts };
      await sleep(200);
    }
  }

  /** Agents listed by GET /registry/agents (through the load balancer). */
  async listed(): Promise<{ ids: string[]; leader: string | null; term: number | null }> {
    const o = await this.api.call<{ instances: { instance_id: string }[]; leader_id: string | null; leader_term?: number }>(
      'list',
      'GET',
      '/registry/agents?limit=1000',
    );
    if (!o.ok || !o.body) throw new Error(`list: ${o.status} ${o.error ?? ''}`);
    this.safety.observe('list', o.body.leader_id, o.body.leader_term, o.sentAt, o.receivedAt);
    return { ids: o.body.instances.map((i) => i.instance_id), leader: o.body.leader_id, term: o.body.leader_term ?? null };
  }

  async stop(extra: FaultAgent[] = []): Promise<void> {
    await this.stopTraffic();
    this.watchStop.abort();
    await Promise.allSettled([...this.agents, ...this.mailboxes, ...extra].map((a) => a.stop()));
    await this.watchTask?.catch(() => undefined);
  }

  /** Figures for the test's log and assertions. */
  report() {
    const l = this.ledger;
    return {
      calls: this.log.total(),
      byStatus: this.log.summary(),
      failures: this.log.failures.length,
      targetedAcked: l.targeted.size,
      toMailboxes: [...l.targeted.values()].filter((v) => this.mailboxes.some((m) => m.id === v.to)).length,
      broadcastsAcked: l.broadcasts.size,
      requestsOk: l.requestsOk,
      requestRetries: l.requestRetries,
      requestGaveUp: l.requestGaveUp,
      sendGaveUp: l.sendGaveUp,
      duplicates: l.redeliveries(),
      mostDuplicated: l.mostRedelivered(3),
      queuedTwice: l.queuedTwice().length,
      replays: l.replays,
      wrongDeliveries: l.wrong.length,
      reregistrations: this.agents.reduce((n, a) => n + a.reregistrations, 0),
      leaderObservations: this.safety.count,
      leaderHistory: this.safety
        .history()
        .map((h) => `${h.epoch}/${h.term}:${h.leaders.join('|')}`)
        .join(' '),
      feedLeaderEvents: this.safety.feedEvents,
      fifoViolations: fifoViolations(this.agents, l).length,
    };
  }
}
