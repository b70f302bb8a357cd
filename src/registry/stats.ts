// Registry-wide figures read FROM REDIS (the `stats` script), so that every replica's /metrics
// reports the same truth whichever replica Prometheus happens to scrape. Process-local counters
// live on the services (InstanceService.counters, MessageService.counters, Maintenance.stats).
import type { RegistryContext } from './context.js';

/** Inboxes looked at per snapshot (one O(1) XLEN each): bounds the cost of a scrape. */
export const STATS_MAX_INBOXES = 1000;

export interface MeshSnapshot {
  /** Members whose heartbeat deadline is in the future. */
  live: number;
  /** Members in the join index, lapsed-but-not-yet-cleaned ones included. */
  registered: number;
  /** Members whose deadline passed and that cleanup has not removed yet. */
  lapsed: number;
  /** The live leader, or null when the seat is empty or its holder lapsed. */
  leaderId: string | null;
  leaderTerm: number;
  /** Sum and maximum of inbox lengths over the scanned inboxes. */
  inboxTotal: number;
  inboxMax: number;
  inboxesScanned: number;
  /** True when more inboxes hold messages than one snapshot scans (figures are then a lower bound). */
  inboxTruncated: boolean;
  broadcastLength: number;
  eventsLength: number;
}

type StatsReply = [number, number, number, string | null, number, number, number, number, number, number, number];

export class RegistryStats {
  constructor(
    private readonly ctx: Pick<RegistryContext, 'keys' | 'scripts'>,
    private readonly maxInboxes = STATS_MAX_INBOXES,
  ) {}

  async snapshot(): Promise<MeshSnapshot> {
    const { keys } = this.ctx;
    const r = (await this.ctx.scripts.run(
      'stats',
      [keys.deadlines, keys.joined, keys.leader, keys.term, keys.inboxOldest, keys.broadcast, keys.events],
      [keys.prefix, this.maxInboxes],
    )) as StatsReply;
    return {
      live: Number(r[0]),
      registered: Number(r[1]),
      lapsed: Number(r[2]),
      leaderId: typeof r[3] === 'string' ? r[3] : null,
      leaderTerm: Number(r[4]),
      inboxTotal: Number(r[5]),
      inboxMax: Number(r[6]),
      inboxesScanned: Number(r[7]),
      inboxTruncated: r[8] === 1,
      broadcastLength: Number(r[9]),
      eventsLength: Number(r[10]),
    };
  }
}
