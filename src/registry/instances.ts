// Registration, heartbeat, deregistration and listing. Each operation is one Lua script call; this
// module only shapes arguments and maps the scripts' compact replies to wire types.
import type { Config } from '../config.js';
import { errors } from '../errors.js';
import { isoFromMs, type RegistryContext } from './context.js';
import type { LeaderInfo, MeshInstance, Metrics } from './types.js';

export interface RegisterInput {
  instance_id: string;
  hostname: string;
  port: number;
  capabilities: string[];
  agent_profiles: string[];
}

/** Ownership of an instance id (AUTH_MODE=instance): token hashes, never raw tokens. */
export interface OwnershipCheck {
  /** Hash stored with a new registration. */
  newTokenHash?: string;
  /** Hash of the token the caller presented. */
  presentedHash?: string;
  /** When true, a live id can only be re-registered/deregistered by its token holder. */
  enforce: boolean;
  /** Admins may deregister anyone. */
  admin?: boolean;
}

export interface RegisterResult extends LeaderInfo {
  created: boolean;
  /** JSON array of every live peer (the caller included), as the register answer carries it. */
  peers_json: string;
}

export interface HeartbeatResult extends LeaderInfo {
  found: boolean;
  leaderChanged: boolean;
}

/** Counters the metrics layer reads (this replica's share); the registry has no metrics dependency. */
export interface InstanceCounters {
  /** New members (a fresh id, or one whose previous record had lapsed). */
  registered: number;
  /** Live members registering again (refresh). */
  refreshed: number;
  /** Registrations refused: the id is live and the caller lacks its token. */
  conflicts: number;
  heartbeats: number;
  /** Heartbeats for unknown or lapsed ids (answered 404: re-register). */
  heartbeatsUnknown: number;
  deregistered: number;
  /** Deregistrations of unknown or already lapsed ids. */
  deregisterUnknown: number;
  /** Lapsed members removed by cleanup batches run on this replica. */
  expired: number;
  /** Changes of leader (elections and vacancies) decided by scripts this replica ran. */
  leaderChanges: number;
  /** Heartbeats that changed the reported status (recorded as `updated` events). */
  statusChanges: number;
}

export interface ListOptions {
  capability?: string;
  after?: string;
  limit?: number;
}

export interface ListResult extends LeaderInfo {
  instances: MeshInstance[];
  next_cursor: string | null;
}

/** A listing as JSON text, for answers that only pass it on (see listJson). */
export interface ListJsonResult extends LeaderInfo {
  /** JSON array of MeshInstance, in join order. */
  instances_json: string;
  count: number;
  next_cursor: string | null;
}

interface RawListing extends LeaderInfo {
  rows: Row[];
  next_cursor: string | null;
}

type Row = [string, string, string, string, string, string, string, string | null, string | null];

function toInstance(row: Row, leaderId: string | null): MeshInstance {
  const [id, host, port, caps, profiles, created, hb, status, metrics] = row;
  return {
    instance_id: id,
    hostname: host,
    port: Number(port),
    capabilities: JSON.parse(caps) as string[],
    is_leader: id === leaderId,
    last_heartbeat: isoFromMs(hb),
    created_at: isoFromMs(created),
    agent_profiles: JSON.parse(profiles) as string[],
    status: status || null,
    metrics: metrics ? (JSON.parse(metrics) as Metrics) : null,
  };
}

/**
 * The JSON text of toInstance(row): same fields, order and values as the meshInstance schema,
 * built without the intermediate objects. Capabilities, profiles and metrics are stored as JSON
 * written by the register and heartbeat scripts from JSON.stringify of validated input, so they are
 * copied as they are. A 10k listing spent half its CPU in garbage collection of the row objects
 * and JSON.parse results (docs/performance.md).
 */
function instanceJson(row: Row, leaderId: string | null): string {
  const [id, host, port, caps, profiles, created, hb, status, metrics] = row;
  return (
    `{"instance_id":${JSON.stringify(id)},"hostname":${JSON.stringify(host)},"port":${Number(port)},` +
    `"capabilities":${caps},"is_leader":${id === leaderId},"last_heartbeat":"${isoFromMs(hb)}",` +
    `"created_at":"${isoFromMs(created)}","agent_profiles":${profiles},` +
    `"status":${status ? JSON.stringify(status) : 'null'},"metrics":${metrics || 'null'}}`
  );
}

const leaderOf = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** A heartbeat waiting for the next batch (InstanceService.heartbeat). */
interface PendingHeartbeat {
  id: string;
  status: string;
  /** JSON, '' for null. */
  metrics: string;
  resolve(result: HeartbeatResult): void;
  reject(err: unknown): void;
}

/**
 * How long an instance record outlives its deadline at most, even if maintenance never runs: its
 * key expires then (a backstop; maintenance normally purges it within one cleanup interval). Long
 * enough that maintenance, when it runs, always finds the record (it needs the capabilities to
 * clean the indexes).
 */
export function recordGraceMs(config: Pick<Config, 'CLEANUP_INTERVAL_MS'>): number {
  return Math.max(60_000, 10 * config.CLEANUP_INTERVAL_MS);
}

/** Heartbeats per script call at most, so one call never holds Redis for long. */
const HEARTBEAT_BATCH_MAX = 256;

export class InstanceService {
  readonly counters: InstanceCounters = {
    registered: 0,
    refreshed: 0,
    conflicts: 0,
    heartbeats: 0,
    heartbeatsUnknown: 0,
    deregistered: 0,
    deregisterUnknown: 0,
    expired: 0,
    leaderChanges: 0,
    statusChanges: 0,
  };

  constructor(private readonly ctx: RegistryContext) {}

  /** The full listing in Redis now, and the one queued to start when it ends (see listingAfterNow). */
  private listingRunning: Promise<ListJsonResult> | null = null;
  private listingQueued: Promise<ListJsonResult> | null = null;

  /**
   * A full listing that starts after this call, shared by every caller that needs one meanwhile.
   * A register answer lists all live peers, and that listing is O(live) in Redis (~100 ms at 10k
   * live, docs/performance.md): when a fleet re-registers at once (Redis restarted, network back),
   * one listing per register would keep Redis busy for minutes. A listing already running started
   * before the caller's write, so it may not include the caller: the caller joins the one queued
   * behind it instead. So each answer still reflects a state after its own write, and a replica
   * has at most one such listing in Redis at a time however many agents register.
   */
  private listingAfterNow(): Promise<ListJsonResult> {
    if (this.listingQueued) return this.listingQueued;
    if (!this.listingRunning) return this.startListing();
    const queued = this.listingRunning
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        this.listingQueued = null; // callers from now on need a listing that starts after them
        return this.startListing();
      });
    this.listingQueued = queued;
    return queued;
  }

  private startListing(): Promise<ListJsonResult> {
    const running = this.listJson();
    this.listingRunning = running;
    const done = () => {
      if (this.listingRunning === running) this.listingRunning = null;
    };
    running.then(done, done);
    return running;
  }

  private get eventsMax(): number {
    return this.ctx.config.EVENTS_MAXLEN;
  }

  async register(input: RegisterInput, own: OwnershipCheck = { enforce: false }): Promise<RegisterResult> {
    const { keys, config } = this.ctx;
    const reply = (await this.ctx.scripts.run(
      'register',
      [keys.inst(input.instance_id), keys.deadlines, keys.joined, keys.leader, keys.term, keys.seq, keys.events, keys.broadcast],
      [
        keys.prefix,
        input.instance_id,
        input.hostname,
        input.port,
        JSON.stringify(input.capabilities),
        JSON.stringify(input.agent_profiles),
        config.STALE_TIMEOUT_MS,
        this.eventsMax,
        own.newTokenHash ?? '',
        own.presentedHash ?? '',
        own.enforce ? '1' : '0',
        recordGraceMs(config),
      ],
    )) as [number, string | false, number, number, number, number];
    if (reply[0] === -1) {
      this.counters.conflicts++;
      throw errors.idInUse(input.instance_id);
    }
    if (reply[3] === 1) this.counters.registered++;
    else this.counters.refreshed++;
    if (reply[5] === 1) this.counters.leaderChanges++;
    this.ctx.wake.events();
    // Peers come from a listing after the write: it carries its own leader so that `leader_id`
    // and every peer's `is_leader` come from the same snapshot.
    const listing = await this.listingAfterNow();
    return {
      created: reply[3] === 1,
      leader_id: listing.leader_id,
      leader_term: listing.leader_term,
      peers_json: listing.instances_json,
    };
  }

  /**
   * Renews `id`. Heartbeats arriving in the same event-loop turn go to Redis as one script call
   * (see heartbeat.lua): under load that halves Redis time per heartbeat, i.e. doubles the agents
   * a shard holds, and saves the replica a command per request. Alone, a heartbeat waits one
   * setImmediate (microseconds) longer than a direct call.
   */
  heartbeat(id: string, status: string, metrics: Metrics | null): Promise<HeartbeatResult> {
    return new Promise((resolve, reject) => {
      this.pendingBeats.push({ id, status, metrics: metrics ? JSON.stringify(metrics) : '', resolve, reject });
      if (this.pendingBeats.length === 1) setImmediate(() => this.flushHeartbeats());
    });
  }

  private pendingBeats: PendingHeartbeat[] = [];

  private flushHeartbeats(): void {
    const beats = this.pendingBeats;
    this.pendingBeats = [];
    for (let i = 0; i < beats.length; i += HEARTBEAT_BATCH_MAX) void this.renew(beats.slice(i, i + HEARTBEAT_BATCH_MAX));
  }

  private async renew(beats: PendingHeartbeat[]): Promise<void> {
    const { keys, config } = this.ctx;
    const args: (string | number)[] = [
      keys.prefix,
      config.STALE_TIMEOUT_MS,
      this.eventsMax,
      config.STATUS_EVENT_INTERVAL_MS,
      recordGraceMs(config),
    ];
    for (const b of beats) args.push(b.id, b.status, b.metrics);
    let reply: (string | number | null)[];
    try {
      reply = (await this.ctx.scripts.run('heartbeat', [keys.deadlines, keys.leader, keys.term, keys.events], args)) as (
        | string
        | number
        | null
      )[];
    } catch (err) {
      for (const b of beats) b.reject(err);
      return;
    }
    const leader_id = leaderOf(reply[0]);
    const leader_term = Number(reply[1]);
    const leaderChanged = reply[2] === 1;
    if (leaderChanged) this.counters.leaderChanges++;
    let statusChanged = false;
    beats.forEach((b, i) => {
      const found = reply[3 + 2 * i] === 1;
      if (found) this.counters.heartbeats++;
      else this.counters.heartbeatsUnknown++;
      if (reply[4 + 2 * i] === 1) {
        this.counters.statusChanges++;
        statusChanged = true;
      }
      b.resolve({ found, leader_id, leader_term, leaderChanged });
    });
    // Watchers of /registry/events learn about a new leader or a changed status.
    if (leaderChanged || statusChanged) this.ctx.wake.events();
  }

  /** Returns false when the id is unknown or lapsed. */
  async deregister(id: string, own: OwnershipCheck = { enforce: false }): Promise<boolean> {
    const { keys } = this.ctx;
    const reply = (await this.ctx.scripts.run(
      'deregister',
      [keys.inst(id), keys.deadlines, keys.leader, keys.term, keys.events],
      [keys.prefix, id, this.eventsMax, own.presentedHash ?? '', own.enforce ? '1' : '0', own.admin ? '1' : '0'],
    )) as [number, string | false, number, number];
    if (reply[0] === -1) throw errors.forbidden(`Only the holder of instance '${id}' token may deregister it`);
    if (reply[0] === 1) this.counters.deregistered++;
    else this.counters.deregisterUnknown++;
    if (reply[3] === 1) this.counters.leaderChanges++;
    this.ctx.wake.events();
    return reply[0] === 1;
  }

  async list(opts: ListOptions = {}): Promise<ListResult> {
    const { rows, ...rest } = await this.listRaw(opts);
    return { ...rest, instances: rows.map((r) => toInstance(r, rest.leader_id)) };
  }

  /** list() as JSON text: for HTTP answers, ~2x cheaper for large listings (see instanceJson). */
  async listJson(opts: ListOptions = {}): Promise<ListJsonResult> {
    const { rows, ...rest } = await this.listRaw(opts);
    const parts = new Array<string>(rows.length);
    for (let i = 0; i < rows.length; i++) parts[i] = instanceJson(rows[i]!, rest.leader_id);
    return { ...rest, count: rows.length, instances_json: `[${parts.join(',')}]` };
  }

  private listRaw(opts: ListOptions): Promise<RawListing> {
    const mode = opts.capability !== undefined ? 'cap' : 'all';
    return this.runList(mode, opts.capability ?? '', opts.after ?? '', opts.limit ?? 0);
  }

  async get(id: string): Promise<MeshInstance | null> {
    const res = await this.runList('one', id, '', 0);
    const row = res.rows[0];
    return row ? toInstance(row, res.leader_id) : null;
  }

  async leader(): Promise<LeaderInfo> {
    // A listing limited to one row still runs the election check; its leader is what we want.
    const res = await this.runList('all', '', '', 1);
    return { leader_id: res.leader_id, leader_term: res.leader_term };
  }

  private async runList(mode: 'all' | 'cap' | 'one', arg: string, after: string, limit: number): Promise<RawListing> {
    const { keys } = this.ctx;
    const reply = (await this.ctx.scripts.run(
      'list',
      [keys.joined, keys.deadlines, keys.leader, keys.term, keys.events],
      [keys.prefix, this.eventsMax, mode, arg, after, limit],
    )) as unknown[];
    const leaderId = leaderOf(reply[0]);
    if (reply[2] === 1) {
      this.counters.leaderChanges++;
      this.ctx.wake.events();
    }
    return {
      leader_id: leaderId,
      leader_term: Number(reply[1]),
      next_cursor: typeof reply[3] === 'string' ? reply[3] : null,
      rows: reply.slice(5) as Row[],
    };
  }

  /** Removes up to `batch` lapsed members (maintenance job). */
  async cleanupBatch(batch: number): Promise<{ removed: string[]; more: boolean; leaderChanged: boolean }> {
    const { keys } = this.ctx;
    const reply = (await this.ctx.scripts.run(
      'cleanup',
      [keys.deadlines, keys.leader, keys.term, keys.events],
      [keys.prefix, batch, this.eventsMax],
    )) as [number, number, string | false, number, number, ...string[]];
    const removed = reply.slice(5) as string[];
    const leaderChanged = reply[4] === 1;
    this.counters.expired += removed.length;
    if (leaderChanged) this.counters.leaderChanges++;
    if (removed.length > 0 || leaderChanged) this.ctx.wake.events();
    return { removed, more: reply[1] === 1, leaderChanged };
  }

  /** Which instance a token hash belongs to (AUTH_MODE=instance) and whether it is live now. */
  async tokenOwner(tokenHash: string): Promise<{ id: string; live: boolean } | null> {
    const { keys } = this.ctx;
    const [owner, live] = (await this.ctx.scripts.run('token-owner', [keys.tokens, keys.deadlines], [tokenHash])) as [
      string | null,
      number,
    ];
    return typeof owner === 'string' ? { id: owner, live: live === 1 } : null;
  }

  /** Number of live members (cheap: one ZCOUNT on the deadlines index). */
  async liveCount(): Promise<number> {
    return Number(await this.ctx.scripts.run('live-count', [this.ctx.keys.deadlines], []));
  }
}
