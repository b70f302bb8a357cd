// Registration, heartbeat, deregistration, cleanup and listings. Each operation is one Lua script
// call (through the typed wrappers in src/redis/scripts/); this module shapes their input and output
// and turns refusals into domain errors.
import type { Config } from '../config.js';
import { errors } from '../errors.js';
import { cleanup } from '../redis/scripts/cleanup.js';
import { deregister } from '../redis/scripts/deregister.js';
import { heartbeat as heartbeatScript, type Beat, type HeartbeatReply } from '../redis/scripts/heartbeat.js';
import { liveCount } from '../redis/scripts/live-count.js';
import { register } from '../redis/scripts/register.js';
import { ReplyCode } from '../redis/scripts/reply-codes.js';
import { tokenOwner } from '../redis/scripts/token-owner.js';
import type { StoredAgentCard } from './agent-cards.js';
import { writeScripts, type RegistryContext } from './context.js';
import type { DataLossMonitor } from './data-loss.js';
import { rowsJson } from './instance-json.js';
import { InstanceListing, type ListJsonResult, type ListOptions, type ListResult, type RawListing } from './listing.js';
import { sharedInFlight } from './shared-in-flight.js';
import { TurnBatcher } from './turn-batch.js';
import type { LeaderInfo, MeshInstance, Metrics } from './types.js';

export type { ListJsonResult, ListOptions, ListResult } from './listing.js';

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

/** A heartbeat waiting for the next batch (InstanceService.heartbeat). */
interface PendingBeat extends Beat {
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

  private readonly listing: InstanceListing;
  /**
   * The first page of the listing that register answers carry (REGISTER_PEERS_MAX rows), shared by
   * the registrations in flight. Each answer still reflects its own write: the caller's row comes
   * from its own script and replaces or joins the page, and the leader is whichever of the two is
   * newer (higher term).
   */
  private readonly peersPage: () => Promise<RawListing>;
  /**
   * Heartbeats that reach this replica in one event-loop turn renew in one script call (see
   * heartbeat.lua): under load that halves Redis time per heartbeat, i.e. doubles the agents a
   * shard holds, and saves the replica a command per request.
   */
  private readonly beats = new TurnBatcher<PendingBeat>((batch) => void this.renew(batch), HEARTBEAT_BATCH_MAX);

  constructor(
    private readonly ctx: RegistryContext,
    /** Told the namespace's epoch from every register and heartbeat reply (data-loss.ts). */
    private readonly dataLoss?: DataLossMonitor,
  ) {
    this.listing = new InstanceListing(ctx, () => this.counters.leaderChanges++);
    this.peersPage = sharedInFlight(() => this.listing.rows({ limit: ctx.config.REGISTER_PEERS_MAX }));
  }

  async register(input: RegisterInput, own: OwnershipCheck = { enforce: false }): Promise<RegisterResult> {
    const { keys, config } = this.ctx;
    const reply = await register(writeScripts(this.ctx), keys, {
      id: input.instance_id,
      hostname: input.hostname,
      port: input.port,
      capabilities: input.capabilities,
      profiles: input.agent_profiles,
      staleTimeoutMs: config.STALE_TIMEOUT_MS,
      eventsMaxlen: config.EVENTS_MAXLEN,
      recordGraceMs: recordGraceMs(config),
      newTokenHash: own.newTokenHash ?? '',
      presentedHash: own.presentedHash ?? '',
      enforceOwner: own.enforce,
      card: input.agentCard ?? null,
    });
    if (reply.code === ReplyCode.IdInUse) {
      this.counters.conflicts++;
      throw errors.idInUse(input.instance_id);
    }
    this.dataLoss?.observe(reply.epoch);
    if (reply.created) this.counters.registered++;
    else this.counters.refreshed++;
    if (reply.leaderChanged) this.counters.leaderChanges++;
    this.ctx.wake.events();
    // REDIS_SYNC_REPLICAS: the replicas confirm the write while the peers page is read.
    const [page] = await Promise.all([this.peersPage(), this.ctx.sync?.confirm()]);
    // The newer of the two views of the leader, so `leader_id` and every `is_leader` agree and
    // reflect at least the caller's own write.
    const leader =
      reply.term > page.leader_term
        ? { leader_id: reply.leaderId, leader_term: reply.term }
        : { leader_id: page.leader_id, leader_term: page.leader_term };
    // The caller's fresh row in its place when the page has it (pages are in join order), else
    // after the page (a newcomer joins at the end; an old member beyond the page is added).
    const rows = [...page.rows];
    const at = rows.findIndex((r) => r[0] === input.instance_id);
    if (at >= 0) rows[at] = reply.row;
    else rows.push(reply.row);
    return {
      created: reply.created,
      ...leader,
      peers_json: rowsJson(rows, leader.leader_id),
      peers_truncated: page.next_cursor !== null,
      peers_next_cursor: page.next_cursor,
    };
  }

  /** Renews `id` (batched with the other heartbeats of this event-loop turn). */
  heartbeat(id: string, status: string, metrics: Metrics | null): Promise<HeartbeatResult> {
    return new Promise((resolve, reject) => {
      this.beats.add({ id, status, metrics: metrics ? JSON.stringify(metrics) : '', resolve, reject });
    });
  }

  private async renew(beats: PendingBeat[]): Promise<void> {
    const { keys, config } = this.ctx;
    let reply: HeartbeatReply;
    try {
      reply = await heartbeatScript(this.ctx.scripts, keys, {
        staleTimeoutMs: config.STALE_TIMEOUT_MS,
        eventsMaxlen: config.EVENTS_MAXLEN,
        statusEventIntervalMs: config.STATUS_EVENT_INTERVAL_MS,
        recordGraceMs: recordGraceMs(config),
        beats,
      });
    } catch (err) {
      for (const b of beats) b.reject(err);
      return;
    }
    const { leaderId: leader_id, term: leader_term, leaderChanged } = reply;
    this.dataLoss?.observe(reply.epoch);
    if (leaderChanged) this.counters.leaderChanges++;
    let statusChanged = false;
    beats.forEach((b, i) => {
      const r = reply.beats[i]!;
      const found = r.code === ReplyCode.Ok;
      if (found) this.counters.heartbeats++;
      else this.counters.heartbeatsUnknown++;
      if (r.statusAnnounced) {
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
    const reply = await deregister(writeScripts(this.ctx), this.ctx.keys, {
      id,
      eventsMaxlen: this.ctx.config.EVENTS_MAXLEN,
      presentedHash: own.presentedHash ?? '',
      enforceOwner: own.enforce,
      admin: own.admin === true,
    });
    if (reply.code === ReplyCode.NotOwner) throw errors.forbidden(`Only the holder of instance '${id}' token may deregister it`);
    const removed = reply.code === ReplyCode.Ok;
    if (removed) this.counters.deregistered++;
    else this.counters.deregisterUnknown++;
    if (reply.leaderChanged) this.counters.leaderChanges++;
    this.ctx.wake.events();
    // Also when the id was already gone: a retry must not report "gone" for a removal by an earlier
    // attempt that the replicas never confirmed (the barrier covers every earlier write).
    await this.ctx.sync?.confirm();
    return removed;
  }

  list(opts: ListOptions = {}): Promise<ListResult> {
    return this.listing.list(opts);
  }

  /** list() as JSON text, for HTTP answers. */
  listJson(opts: ListOptions = {}): Promise<ListJsonResult> {
    return this.listing.listJson(opts);
  }

  get(id: string): Promise<MeshInstance | null> {
    return this.listing.get(id);
  }

  leader(): Promise<LeaderInfo> {
    return this.listing.leader();
  }

  /** Removes up to `batch` lapsed members (maintenance job). */
  async cleanupBatch(batch: number): Promise<{ removed: string[]; more: boolean; leaderChanged: boolean }> {
    const { removed, more, leaderChanged } = await cleanup(this.ctx.scripts, this.ctx.keys, {
      batch,
      eventsMaxlen: this.ctx.config.EVENTS_MAXLEN,
    });
    this.counters.expired += removed.length;
    if (leaderChanged) this.counters.leaderChanges++;
    if (removed.length > 0 || leaderChanged) this.ctx.wake.events();
    return { removed, more, leaderChanged };
  }

  /** Which instance a token hash belongs to (AUTH_MODE=instance) and whether it is live now. */
  tokenOwner(tokenHash: string): Promise<{ id: string; live: boolean } | null> {
    return tokenOwner(this.ctx.scripts, this.ctx.keys, tokenHash);
  }

  /** Number of live members (cheap: one ZCOUNT on the deadlines index). */
  liveCount(): Promise<number> {
    return liveCount(this.ctx.scripts, this.ctx.keys);
  }
}
