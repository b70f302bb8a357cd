// cleanup.lua: one bounded batch of the maintenance sweep (lapsed members removed).
import type { MeshKeys } from '../keys.js';
import type { ScriptRunner } from '../script-runner.js';
import { flag, stringOrNull, tableOf, type LeaderSeen } from './decode.js';

export interface CleanupReply extends LeaderSeen {
  removed: string[];
  /** More lapsed members wait for the next batch. */
  more: boolean;
}

export const cleanupKeys = (k: MeshKeys): string[] => [k.deadlines, k.leader, k.term, k.events];

export async function cleanup(scripts: ScriptRunner, k: MeshKeys, c: { batch: number; eventsMaxlen: number }): Promise<CleanupReply> {
  const r = tableOf('cleanup', await scripts.run('cleanup', cleanupKeys(k), [k.prefix, c.batch, c.eventsMaxlen]));
  return {
    removed: r.slice(5).map(String),
    more: flag(r[1]),
    leaderId: stringOrNull(r[2]),
    term: Number(r[3]),
    leaderChanged: flag(r[4]),
  };
}
