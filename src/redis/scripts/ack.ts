// ack.lua: acknowledges message ids for one member only.
import type { MeshKeys } from '../keys.js';
import type { ScriptRunner } from '../script-runner.js';

export const ackKeys = (k: MeshKeys, id: string): string[] => [
  k.broadcastIndex,
  k.inbox(id),
  k.inboxIndex(id),
  k.inboxBodies(id),
  k.broadcastPending(id),
  k.inst(id),
  k.counters,
];

/** Returns the number of copies acknowledged (ids that are not the member's are ignored). */
export async function ack(scripts: ScriptRunner, k: MeshKeys, id: string, messageIds: readonly string[]): Promise<number> {
  return Number(await scripts.run('ack', ackKeys(k, id), [k.prefix, id, ...messageIds]));
}
