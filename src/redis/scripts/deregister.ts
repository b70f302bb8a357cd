// deregister.lua: removes an instance and everything it owns; a leader hands over in the same step.
import type { MeshKeys } from '../keys.js';
import type { ScriptRunner } from '../script-runner.js';
import { flag, stringOrNull, tableOf, type LeaderSeen } from './decode.js';
import { ReplyCode, replyCode } from './reply-codes.js';

export interface DeregisterCall {
  id: string;
  eventsMaxlen: number;
  /** Token hash the caller presented ('' = none). */
  presentedHash: string;
  /** Only the holder of the instance's token may remove it... */
  enforceOwner: boolean;
  /** ...unless the caller is an admin. */
  admin: boolean;
}

export interface DeregisterReply extends LeaderSeen {
  /** Ok: removed; NotLive: unknown or lapsed (a lapsed record is purged all the same). */
  code: typeof ReplyCode.Ok | typeof ReplyCode.NotLive | typeof ReplyCode.NotOwner;
}

export const deregisterKeys = (k: MeshKeys, id: string): string[] => [k.inst(id), k.deadlines, k.leader, k.term, k.events];

export async function deregister(scripts: ScriptRunner, k: MeshKeys, c: DeregisterCall): Promise<DeregisterReply> {
  const r = tableOf(
    'deregister',
    await scripts.run('deregister', deregisterKeys(k, c.id), [
      k.prefix,
      c.id,
      c.eventsMaxlen,
      c.presentedHash,
      c.enforceOwner ? '1' : '0',
      c.admin ? '1' : '0',
    ]),
  );
  return {
    code: replyCode('deregister', r[0], [ReplyCode.Ok, ReplyCode.NotLive, ReplyCode.NotOwner]),
    leaderId: stringOrNull(r[1]),
    term: Number(r[2]),
    leaderChanged: flag(r[3]),
  };
}
