// expire-messages.lua: one bounded batch of message TTL expiry and broadcast trimming.
import type { MeshKeys } from '../keys.js';
import type { ScriptRunner } from '../script-runner.js';
import { flag, tableOf } from './decode.js';

export interface ExpireReply {
  expiredInbox: number;
  expiredBroadcast: number;
  /** Broadcasts every member is done with. */
  trimmed: number;
  more: boolean;
}

export const expireMessagesKeys = (k: MeshKeys): string[] => [
  k.inboxOldest,
  k.broadcast,
  k.broadcastIndex,
  k.broadcastBodies,
  k.broadcastFloor,
];

export async function expireMessages(scripts: ScriptRunner, k: MeshKeys, c: { ttlMs: number; batch: number }): Promise<ExpireReply> {
  const r = tableOf('expire-messages', await scripts.run('expire-messages', expireMessagesKeys(k), [k.prefix, c.ttlMs, c.batch]));
  return { expiredInbox: Number(r[0]), expiredBroadcast: Number(r[1]), trimmed: Number(r[2]), more: flag(r[3]) };
}
