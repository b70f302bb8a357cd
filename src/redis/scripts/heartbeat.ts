// heartbeat.lua: renews a batch of heartbeats in one call, each as if alone (see its header).
import type { MeshKeys } from '../keys.js';
import type { ScriptArg, ScriptRunner } from '../script-runner.js';
import { flag, stringOrNull, tableOf, type LeaderSeen } from './decode.js';
import { ReplyCode, replyCode } from './reply-codes.js';

export interface Beat {
  id: string;
  status: string;
  /** JSON, '' for null. */
  metrics: string;
}

export interface HeartbeatCall {
  staleTimeoutMs: number;
  eventsMaxlen: number;
  statusEventIntervalMs: number;
  recordGraceMs: number;
  beats: readonly Beat[];
}

export interface BeatResult {
  code: typeof ReplyCode.Ok | typeof ReplyCode.NotLive;
  /** The status change was recorded as an `updated` event. */
  statusAnnounced: boolean;
}

export interface HeartbeatReply extends LeaderSeen {
  epoch: string | null;
  /** One per beat, in order. */
  beats: BeatResult[];
}

export const heartbeatKeys = (k: MeshKeys): string[] => [k.deadlines, k.leader, k.term, k.events, k.epoch];

export async function heartbeat(scripts: ScriptRunner, k: MeshKeys, c: HeartbeatCall): Promise<HeartbeatReply> {
  const args: ScriptArg[] = [k.prefix, c.staleTimeoutMs, c.eventsMaxlen, c.statusEventIntervalMs, c.recordGraceMs];
  for (const b of c.beats) args.push(b.id, b.status, b.metrics);
  const r = tableOf('heartbeat', await scripts.run('heartbeat', heartbeatKeys(k), args));
  const beats: BeatResult[] = [];
  for (let i = 0; i < c.beats.length; i++) {
    beats.push({
      code: replyCode('heartbeat', r[4 + 2 * i], [ReplyCode.Ok, ReplyCode.NotLive]),
      statusAnnounced: flag(r[5 + 2 * i]),
    });
  }
  return { leaderId: stringOrNull(r[0]), term: Number(r[1]), leaderChanged: flag(r[2]), epoch: stringOrNull(r[3]), beats };
}
