// stats.lua: a read-only, bounded snapshot of the registry for /metrics and the console.
import type { MeshKeys } from '../keys.js';
import type { ScriptRunner } from '../script-runner.js';
import { flag, stringOrNull, tableOf } from './decode.js';

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

export const statsKeys = (k: MeshKeys): string[] => [k.deadlines, k.joined, k.leader, k.term, k.inboxOldest, k.broadcast, k.events];

export async function stats(scripts: ScriptRunner, k: MeshKeys, maxInboxes: number): Promise<MeshSnapshot> {
  const r = tableOf('stats', await scripts.run('stats', statsKeys(k), [k.prefix, maxInboxes]));
  return {
    live: Number(r[0]),
    registered: Number(r[1]),
    lapsed: Number(r[2]),
    leaderId: stringOrNull(r[3]),
    leaderTerm: Number(r[4]),
    inboxTotal: Number(r[5]),
    inboxMax: Number(r[6]),
    inboxesScanned: Number(r[7]),
    inboxTruncated: flag(r[8]),
    broadcastLength: Number(r[9]),
    eventsLength: Number(r[10]),
  };
}
