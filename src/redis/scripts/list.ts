// list.lua: one bounded page of live instances in join order, electing first when the seat is vacant.
import type { MeshKeys } from '../keys.js';
import type { ScriptRunner } from '../script-runner.js';
import { flag, rowOf, stringOrNull, tableOf, type InstanceRow, type LeaderSeen } from './decode.js';

/** all: every member; cap/skill: holders of a capability / A2A skill id or tag; one: one id. */
export type ListMode = 'all' | 'cap' | 'skill' | 'one';

export interface ListCall {
  mode: ListMode;
  /** The capability, skill value or id of the mode ('' for all). */
  arg: string;
  /** Join-sequence cursor, exclusive ('0' = from the start). */
  after: string;
  /** Rows at most. */
  limit: number;
  /** Index entries examined at most. */
  budget: number;
  eventsMaxlen: number;
}

export interface ListReply extends LeaderSeen {
  rows: InstanceRow[];
  /** Where the next page starts; null when nothing follows. */
  nextCursor: string | null;
}

/** The zset a page of `mode` is read from. */
function indexOf(k: MeshKeys, mode: ListMode, arg: string): string {
  if (mode === 'cap') return k.cap(arg);
  if (mode === 'skill') return k.skill(arg);
  return k.joined;
}

export const listKeys = (k: MeshKeys, mode: ListMode, arg: string): string[] => [
  k.joined,
  k.deadlines,
  k.leader,
  k.term,
  k.events,
  indexOf(k, mode, arg),
];

export async function list(scripts: ScriptRunner, k: MeshKeys, c: ListCall): Promise<ListReply> {
  const r = tableOf(
    'list',
    await scripts.run('list', listKeys(k, c.mode, c.arg), [k.prefix, c.eventsMaxlen, c.mode, c.arg, c.after, c.limit, c.budget]),
  );
  return {
    leaderId: stringOrNull(r[0]),
    term: Number(r[1]),
    leaderChanged: flag(r[2]),
    nextCursor: stringOrNull(r[3]),
    rows: r.slice(5).map(rowOf),
  };
}
