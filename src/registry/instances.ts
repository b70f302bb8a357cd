// Registration, heartbeat, deregistration and listing. Each operation is one Lua script call; this
// module only shapes arguments and maps the scripts' compact replies to wire types.
import type { Config } from '../config.js';
import { errors } from '../errors.js';
import type { StoredAgentCard } from './agent-cards.js';
import { isoFromMs, writeScripts, type RegistryContext } from './context.js';
import type { DataLossMonitor } from './data-loss.js';
import type { LeaderInfo, MeshInstance, Metrics } from './types.js';

export interface RegisterInput {
  instance_id: string;
  hostname: string;
  port: number;
  capabilities: string[];
  agent_profiles: string[];
  /** A2A Agent Card (validated, see agent-cards.ts); none: a card of an earlier registration goes. */
  agentCard?: StoredAgentCard | null;
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
  /**
   * JSON array of live peers in join order, the caller always included: the first page of the
   * listing (REGISTER_PEERS_MAX), never the whole mesh.
   */
  peers_json: string;
  /** Whether more live peers follow (read them from GET /registry/agents?cursor=...). */
  peers_truncated: boolean;
  peers_next_cursor: string | null;
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
  /** A2A skill id or tag (members whose Agent Card has it). */
  skill?: string;
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

function rowsJson(rows: Row[], leaderId: string | null): string {
  const parts = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) parts[i] = instanceJson(rows[i]!, leaderId);
  return `[${parts.join(',')}]`;
}

/** Rows per listing script call, and index entries it may examine (lapsed ones are skipped). */
export const LIST_PAGE_ROWS = 50;
export const LIST_PAGE_BUDGET = 200;

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
const HEARTBEAT_BATCH_MAX = 128;

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

  constructor(
    private readonly ctx: RegistryContext,
    /** Told the namespace's epoch from every register and heartbeat reply (data-loss.ts). */
    private readonly dataLoss?: DataLossMonitor,
  ) {}

  /** The first listing page a register answer carries, shared by registrations in flight. */
  private peersPage: Promise<RawListing> | null = null;

  /**
   * The first page of the listing (REGISTER_PEERS_MAX rows), shared by every register that needs
   * one while it is in Redis: a fleet re-registering at once (Redis restarted, network back) costs
   * Redis one bounded page per round trip, not one per agent. Each answer still reflects its own
   * write: the caller's row comes from its own script and replaces or joins the page, and the
   * leader is whichever of the two is newer (higher term).
   */
  private sharedPeersPage(): Promise<RawListing> {
    if (this.peersPage) return this.peersPage;
    const page = this.listRaw({ limit: this.ctx.config.REGISTER_PEERS_MAX });
    this.peersPage = page;
    const done = () => {
      if (this.peersPage === page) this.peersPage = null;
    };
    page.then(done, done);
    return page;
  }

  private get eventsMax(): number {
    return this.ctx.config.EVENTS_MAXLEN;
  }

  async register(input: RegisterInput, own: OwnershipCheck = { enforce: false }): Promise<RegisterResult> {
    const { keys, config } = this.ctx;
    const card = input.agentCard ?? null;
    const scriptKeys = [keys.inst(input.instance_id), keys.deadlines, keys.joined, keys.leader, keys.term, keys.seq, keys.events];
    const args: (string | number)[] = [
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
      JSON.stringify(card?.index ?? []),
      card?.digest ?? '',
    ];
    // The card's JSON goes to Redis by a plain SET in the same MULTI; the script moves it into
    // place (register.lua). The TTL only matters if the script never runs.
    const reply = (await (card
      ? writeScripts(this.ctx).runAfter([['set', keys.agentCardIncoming, card.json, 'PX', 60_000]], 'register', scriptKeys, args)
      : writeScripts(this.ctx).run('register', scriptKeys, args))) as [number, string | false, number, number, number, number, Row, string | null];
    if (reply[0] === -1) {
      this.counters.conflicts++;
      throw errors.idInUse(input.instance_id);
    }
    this.dataLoss?.observe(reply[7]);
    if (reply[3] === 1) this.counters.registered++;
    else this.counters.refreshed++;
    if (reply[5] === 1) this.counters.leaderChanges++;
    this.ctx.wake.events();
    // REDIS_SYNC_REPLICAS: the replicas confirm the write while the peers page is read.
    const [page] = await Promise.all([this.sharedPeersPage(), this.ctx.sync?.confirm()]);
    // The newer of the two views of the leader, so `leader_id` and every `is_leader` agree and
    // reflect at least the caller's own write.
    const mine = { leader_id: leaderOf(reply[1]), leader_term: Number(reply[2]) };
    const leader = mine.leader_term > page.leader_term ? mine : { leader_id: page.leader_id, leader_term: page.leader_term };
    // The caller's fresh row in its place when the page has it (pages are in join order), else
    // after the page (a newcomer joins at the end; an old member beyond the page is added).
    const rows = [...page.rows];
    const at = rows.findIndex((r) => r[0] === input.instance_id);
    if (at >= 0) rows[at] = reply[6];
    else rows.push(reply[6]);
    return {
      created: reply[3] === 1,
      ...leader,
      peers_json: rowsJson(rows, leader.leader_id),
      peers_truncated: page.next_cursor !== null,
      peers_next_cursor: page.next_cursor,
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
    this.dataLoss?.observe(reply[3]);
    if (leaderChanged) this.counters.leaderChanges++;
    let statusChanged = false;
    beats.forEach((b, i) => {
      const found = reply[4 + 2 * i] === 1;
      if (found) this.counters.heartbeats++;
      else this.counters.heartbeatsUnknown++;
      if (reply[5 + 2 * i] === 1) {
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
    const reply = (await writeScripts(this.ctx).run(
      'deregister',
      [keys.inst(id), keys.deadlines, keys.leader, keys.term, keys.events],
      [keys.prefix, id, this.eventsMax, own.presentedHash ?? '', own.enforce ? '1' : '0', own.admin ? '1' : '0'],
    )) as [number, string | false, number, number];
    if (reply[0] === -1) throw errors.forbidden(`Only the holder of instance '${id}' token may deregister it`);
    if (reply[0] === 1) this.counters.deregistered++;
    else this.counters.deregisterUnknown++;
    if (reply[3] === 1) this.counters.leaderChanges++;
    this.ctx.wake.events();
    // Also when the id was already gone: a retry must not report "gone" for a removal by an earlier
    // attempt that the replicas never confirmed (the barrier covers every earlier write).
    await this.ctx.sync?.confirm();
    return reply[0] === 1;
  }

  async list(opts: ListOptions = {}): Promise<ListResult> {
    const { rows, ...rest } = await this.listRaw(opts);
    return { ...rest, instances: rows.map((r) => toInstance(r, rest.leader_id)) };
  }

  /** list() as JSON text: for HTTP answers, ~2x cheaper for large listings (see instanceJson). */
  async listJson(opts: ListOptions = {}): Promise<ListJsonResult> {
    const { rows, ...rest } = await this.listRaw(opts);
    return { ...rest, count: rows.length, instances_json: rowsJson(rows, rest.leader_id) };
  }

  /**
   * Live instances in join order, from `after`, up to `limit` (none: all). Each script call reads
   * one bounded page (LIST_PAGE_ROWS rows, LIST_PAGE_BUDGET index entries), so no call's cost
   * depends on the size of the mesh; a longer listing is more calls. The pages are not one
   * snapshot (members may come and go between them); `is_leader` comes from the last page's
   * leader for every row, so the answer never shows two leaders.
   */
  private async listRaw(opts: ListOptions): Promise<RawListing> {
    const mode = opts.capability !== undefined ? 'cap' : opts.skill !== undefined ? 'skill' : 'all';
    const want = opts.limit ?? Number.POSITIVE_INFINITY;
    const rows: Row[] = [];
    let cursor: string | null = opts.after ?? '0';
    let last: RawListing | null = null;
    while (cursor !== null && rows.length < want) {
      last = await this.runList(mode, opts.capability ?? opts.skill ?? '', cursor, Math.min(LIST_PAGE_ROWS, want - rows.length));
      for (const r of last.rows) rows.push(r);
      cursor = last.next_cursor;
    }
    return { leader_id: last!.leader_id, leader_term: last!.leader_term, next_cursor: cursor, rows };
  }

  async get(id: string): Promise<MeshInstance | null> {
    const res = await this.runList('one', id, '0', 1);
    const row = res.rows[0];
    return row ? toInstance(row, res.leader_id) : null;
  }

  async leader(): Promise<LeaderInfo> {
    // A page limited to one row still runs the election check; its leader is what we want.
    const res = await this.runList('all', '', '0', 1);
    return { leader_id: res.leader_id, leader_term: res.leader_term };
  }

  private async runList(mode: 'all' | 'cap' | 'skill' | 'one', arg: string, after: string, limit: number): Promise<RawListing> {
    const { keys } = this.ctx;
    const reply = (await this.ctx.scripts.run(
      'list',
      [keys.joined, keys.deadlines, keys.leader, keys.term, keys.events],
      [keys.prefix, this.eventsMax, mode, arg, after, limit, LIST_PAGE_BUDGET],
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
