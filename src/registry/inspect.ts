// Read-only views of members' queues for operators (the console): how many messages wait in each
// inbox, and which ones. Every call does bounded work, a page at most, whatever the size of the
// mesh or of the queue.
//
// Depths count everything a member has not acked: its targeted inbox, the broadcasts it took and
// has not acked (bpend:<id>) and the others' broadcasts after its cursor. pendingIds pages through
// the targeted inbox only (broadcast copies are shared entries; their ids are in the fetch).
import { pendingIds } from '../redis/scripts/pending-ids.js';
import type { RegistryContext } from './context.js';

/** Most ids per depths() call. */
export const INSPECT_MAX_IDS = 200;
/** Page size cap of pendingIds() (inbox entries hold metadata only; bodies never leave Redis here). */
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

  /**
   * Messages not yet acked per id (0 for unknown ids): targeted inbox + pending broadcasts + the
   * others' broadcasts after its cursor. A few O(1) reads per id, sent as one pipeline.
   */
  async depths(ids: readonly string[]): Promise<number[]> {
    if (ids.length > INSPECT_MAX_IDS) throw new RangeError(`at most ${INSPECT_MAX_IDS} ids per call`);
    const { keys, scripts } = this.ctx;
    const redis = scripts.client;
    const head = Number((await redis.get(keys.broadcastSeq)) ?? 0);
    return Promise.all(
      ids.map(async (id) => {
        const [inbox, pending, cursor] = await Promise.all([
          redis.xlen(keys.inbox(id)),
          redis.zcard(keys.broadcastPending(id)),
          redis.hmget(keys.inst(id), 'bc', 'bown'),
        ]);
        const lag = cursor[0] === null ? 0 : Math.max(0, head - Number(cursor[0]) - Number(cursor[1] ?? 0));
        return Number(inbox) + Number(pending) + lag;
      }),
    );
  }

  /** One page of `id`'s pending message ids, oldest first; null when `id` is not live. */
  async pendingIds(id: string, limit: number, after: string | null = null): Promise<PendingPage | null> {
    const { keys, scripts } = this.ctx;
    const page = Math.max(1, Math.min(limit, PENDING_PAGE_MAX));
    const reply = await pendingIds(scripts, keys, { id, after: after ?? '', page });
    if (!reply) return null;
    const last = reply.entries.at(-1)?.streamId ?? null;
    return {
      pending: reply.pending,
      message_ids: reply.entries.map((e) => e.messageId),
      next_cursor: reply.entries.length === page ? last : null,
    };
  }
}
