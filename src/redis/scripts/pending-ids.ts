// pending-ids.lua: one page of a live member's inbox, as stream ids and message ids only.
import type { MeshKeys } from '../keys.js';
import type { ScriptRunner } from '../script-runner.js';
import { tableOf } from './decode.js';

export interface PendingIdsReply {
  /** Messages waiting in the inbox. */
  pending: number;
  entries: { streamId: string; messageId: string }[];
}

export const pendingIdsKeys = (k: MeshKeys, id: string): string[] => [k.deadlines, k.inbox(id)];

/** null when the member is unknown or its heartbeat lapsed. */
export async function pendingIds(
  scripts: ScriptRunner,
  k: MeshKeys,
  c: { id: string; after: string; page: number },
): Promise<PendingIdsReply | null> {
  const r = tableOf('pending-ids', await scripts.run('pending-ids', pendingIdsKeys(k, c.id), [c.id, c.after, c.page]));
  if (r[0] !== 1) return null;
  const entries: PendingIdsReply['entries'] = [];
  for (let i = 2; i + 1 < r.length; i += 2) entries.push({ streamId: String(r[i]), messageId: String(r[i + 1]) });
  return { pending: Number(r[1]), entries };
}
