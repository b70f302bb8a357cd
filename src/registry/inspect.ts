// Read-only views of members' queues for operators (the console): how many messages wait in each
// inbox, and which ones. Every call does bounded work, a page at most, whatever the size of the
// mesh or of the queue.
//
// Only the targeted inbox (stream P inbox:<id>) is counted for now. A member's broadcast backlog
// (its consumer group's pending + lag on P broadcast) is left out on purpose: broadcast storage is
// being redesigned, and this is the one place to add it (depths and pendingIds).
import type { RegistryContext } from './context.js';

/** Most ids per depths() call. */
export const INSPECT_MAX_IDS = 200;
/**
 * Page size cap of pendingIds(). Streams have no field projection: the script reads whole entries
 * (payloads up to MAX_PAYLOAD_BYTES) inside Redis and returns only the ids, so the page stays small.
 */
export const PENDING_PAGE_MAX = 100;

export interface PendingPage {
  /** Messages waiting in the inbox now (acked ones are gone; expired ones may linger until the next sweep). */
  pending: number;
  /** Message ids of this page, oldest first. */
  message_ids: string[];
  /** Pass back as `after` for the next page; null when this page reached the end. */
  next_cursor: string | null;
}

export class InboxInspector {
  constructor(private readonly ctx: Pick<RegistryContext, 'keys' | 'scripts'>) {}

  /** Pending targeted messages per id (0 for unknown ids): one XLEN each, sent as one pipeline. */
  async depths(ids: readonly string[]): Promise<number[]> {
    if (ids.length > INSPECT_MAX_IDS) throw new RangeError(`at most ${INSPECT_MAX_IDS} ids per call`);
    const { keys, scripts } = this.ctx;
    return Promise.all(ids.map(async (id) => Number(await scripts.client.xlen(keys.inbox(id)))));
  }

  /** One page of `id`'s pending message ids, oldest first; null when `id` is not live. */
  async pendingIds(id: string, limit: number, after: string | null = null): Promise<PendingPage | null> {
    const { keys, scripts } = this.ctx;
    const page = Math.max(1, Math.min(limit, PENDING_PAGE_MAX));
    const reply = (await scripts.run('pending-ids', [keys.deadlines, keys.inbox(id)], [id, after ?? '', page])) as (
      | number
      | string
    )[];
    if (reply[0] !== 1) return null;
    const messageIds: string[] = [];
    let last: string | null = null;
    for (let i = 2; i + 1 < reply.length; i += 2) {
      last = String(reply[i]);
      messageIds.push(String(reply[i + 1]));
    }
    return { pending: Number(reply[1]), message_ids: messageIds, next_cursor: messageIds.length === page ? last : null };
  }
}
