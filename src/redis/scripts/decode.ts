// Small readers for script replies as ioredis hands them over: Lua numbers arrive as integers, Lua
// strings as strings, Lua false as null, tables as arrays.
import type { ScriptName } from '../script-runner.js';
import { ScriptReplyError } from './reply-codes.js';

/** The reply as an array (every script but the counters returns a table). */
export function tableOf(script: ScriptName, reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw new ScriptReplyError(script, `a ${typeof reply} instead of a table`);
  return reply;
}

/** A Lua string-or-false: the string, or null. */
export const stringOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** A Lua 0/1 flag. */
export const flag = (v: unknown): boolean => v === 1;

/**
 * An instance row as lua/includes/base.lua's instanceRow returns it: the id, then the record's
 * fields host, port, caps (JSON), profiles (JSON), created (ms), hb (ms), status, metrics (JSON).
 */
export type InstanceRow = [
  id: string,
  host: string,
  port: string,
  caps: string,
  profiles: string,
  created: string,
  hb: string,
  status: string | null,
  metrics: string | null,
];

export const rowOf = (v: unknown): InstanceRow => v as InstanceRow;

/** Leader, term and whether this call changed the leader: the head of every electing script's reply. */
export interface LeaderSeen {
  leaderId: string | null;
  term: number;
  leaderChanged: boolean;
}
