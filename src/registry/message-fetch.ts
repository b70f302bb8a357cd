// Reading a member's pending messages: pages of metadata from fetch.lua (through the typed wrapper),
// then the bodies with plain HMGETs, spliced into the answer as text. Nothing is removed until it is
// acked, so a crash between fetch and ack re-delivers.
//
// Bounded Redis work: a fetch answer carries at most FETCH_MAX_BYTES of bodies (one larger message
// still goes, alone), read in script calls of at most FETCH_PAGE_ENTRIES entries and HMGETs of at
// most FETCH_READ_BYTES.
import { errors } from '../errors.js';
import { fetchPage, type FetchItem } from '../redis/scripts/fetch.js';
import { ReplyCode } from '../redis/scripts/reply-codes.js';
import type { RegistryContext } from './context.js';
import type { MessageCounters } from './message-counters.js';
import { decodeStoredMessage, messageJson, parseMessage, type PendingMessage } from './message-json.js';
import type { AgentMessage } from './types.js';

/** Entries one fetch script call looks at, at most (per source: inbox, broadcasts). */
export const FETCH_PAGE_ENTRIES = 100;
/**
 * Bytes of bodies one HMGET reads at most. A quarter of the answer's budget: the copy into Redis'
 * reply buffer is the whole cost of the call, and the reads of one answer go one after another,
 * so other clients' commands run between them.
 */
export const FETCH_READ_BYTES = 256 * 1024;

/** Where a page of pending messages ends; the next page starts after it. */
export interface FetchCursor {
  inbox: string;
  broadcast: string;
}

export interface FetchPage {
  messages: PendingMessage[];
  /** Whether more may be pending after `next`. */
  more: boolean;
  next: FetchCursor;
}

export class InboxReader {
  constructor(
    private readonly ctx: Pick<RegistryContext, 'config' | 'keys' | 'scripts' | 'wake'>,
    private readonly counters: MessageCounters,
  ) {}

  /**
   * One page of what `id` has not acknowledged yet, oldest first, within `limit` messages and
   * `maxBytes` of bodies. Throws instance_not_found when `id` is not live.
   */
  async fetchPage(id: string, limit: number, after?: FetchCursor, maxBytes = this.ctx.config.FETCH_MAX_BYTES): Promise<FetchPage> {
    const { keys, config } = this.ctx;
    const refs: FetchItem[] = [];
    let cursor: FetchCursor = after ?? { inbox: '', broadcast: '' };
    let bytes = 0;
    let more = true;
    while (more && refs.length < limit && (refs.length === 0 || bytes < maxBytes)) {
      const page = await fetchPage(this.ctx.scripts, keys, {
        id,
        limit: Math.min(FETCH_PAGE_ENTRIES, limit - refs.length),
        budget: maxBytes - bytes,
        ttlMs: config.MESSAGE_TTL_MS,
        inboxAfter: cursor.inbox,
        broadcastAfter: cursor.broadcast,
        // The first entry of the answer is taken whatever its size (delivered alone if need be).
        force: refs.length === 0,
      });
      this.counters.expired += page.expired;
      if (page.code !== ReplyCode.Ok) throw errors.instanceNotFound(id);
      for (const item of page.items) {
        refs.push(item);
        bytes += item.bytes;
      }
      cursor = page.next;
      more = page.more;
      // A page cut short by the byte budget: the answer is full.
      if (page.items.length === 0) break;
    }
    return { messages: await this.loadBodies(id, refs), more, next: cursor };
  }

  /** Reads the bodies of `refs` with plain HMGETs of at most FETCH_READ_BYTES each. */
  private async loadBodies(id: string, refs: FetchItem[]): Promise<PendingMessage[]> {
    const { keys } = this.ctx;
    const redis = this.ctx.scripts.client;
    const bodies = new Map<string, string>();
    const read = async (key: string, group: FetchItem[]) => {
      for (let i = 0; i < group.length;) {
        const chunk: string[] = [];
        let size = 0;
        while (i < group.length && (chunk.length === 0 || size + group[i]!.bytes <= FETCH_READ_BYTES)) {
          size += group[i]!.bytes;
          chunk.push(group[i++]!.messageId);
        }
        const values = await redis.hmget(key, ...chunk);
        chunk.forEach((mid, j) => {
          const v = values[j];
          if (typeof v === 'string') bodies.set(mid, v);
        });
      }
    };
    await Promise.all([
      read(
        keys.inboxBodies(id),
        refs.filter((r) => r.kind === 'i'),
      ),
      read(
        keys.broadcastBodies,
        refs.filter((r) => r.kind === 'b'),
      ),
    ]);
    const out: PendingMessage[] = [];
    for (const r of refs) {
      const body = bodies.get(r.messageId);
      // Acked or expired between the page and the read: it is no longer pending.
      if (body !== undefined) out.push({ message_id: r.messageId, json: messageJson(body, r.kind === 'i' ? id : null, r.createdMs) });
    }
    return out;
  }

  /** Everything not yet acked by `id` that fits one answer, oldest first. */
  async fetch(id: string, limit: number): Promise<PendingMessage[]> {
    return (await this.fetchPage(id, limit)).messages;
  }

  /**
   * Long-poll: returns as soon as anything is pending for `id`, or [] at the deadline. The waiter is
   * registered before the first read, so a message sent in between still wakes it.
   */
  async fetchWait(id: string, limit: number, waitMs: number, signal?: AbortSignal): Promise<PendingMessage[]> {
    const deadline = Date.now() + waitMs;
    const waiter = this.ctx.wake.inboxWaiter(id);
    const onAbort = () => waiter.poke();
    signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        waiter.arm();
        const messages = await this.fetch(id, limit);
        if (messages.length > 0 || Date.now() >= deadline || this.ctx.wake.isClosed || signal?.aborted) return messages;
        await waiter.sleep(deadline);
      }
    } finally {
      waiter.close();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** One inbox message by id, without taking it (two plain reads, in one MULTI). */
  async peek(id: string, messageId: string): Promise<AgentMessage | null> {
    const { keys } = this.ctx;
    const replies = await this.ctx.scripts.client.multi().hget(keys.inboxIndex(id), messageId).hget(keys.inboxBodies(id), messageId).exec();
    const sid = replies?.[0]?.[1];
    const body = replies?.[1]?.[1];
    if (typeof sid !== 'string' || typeof body !== 'string') return null;
    return decodeStoredMessage(body, id, Number(sid.slice(0, sid.indexOf('-'))));
  }

  /** The Response with `correlationId` among `id`'s pending messages (a bounded number of pages). */
  async findResponse(id: string, correlationId: string): Promise<AgentMessage | null> {
    let after: FetchCursor | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await this.fetchPage(id, 1000, after);
      for (const m of page.messages) {
        const msg = parseMessage(m);
        if (msg.correlation_id === correlationId && msg.message_type === 'Response') return msg;
      }
      if (!page.more) return null;
      after = page.next;
    }
    return null;
  }
}
