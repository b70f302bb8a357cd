// The message service: sending (message-send.ts), reading pending messages and long-polls
// (message-fetch.ts), acknowledging, server-side request/response (message-request.ts) and message
// maintenance, sharing one set of counters. Waiting uses the WakeBus, never a blocking Redis
// connection per client.
import { ack as ackScript } from '../redis/scripts/ack.js';
import { expireMessages } from '../redis/scripts/expire-messages.js';
import { writeScripts, type RegistryContext } from './context.js';
import type { IdempotencyInput } from './idempotency.js';
import type { MembershipView } from './membership.js';
import { newMessageCounters, type MessageCounters } from './message-counters.js';
import { InboxReader, type FetchCursor, type FetchPage } from './message-fetch.js';
import type { PendingMessage } from './message-json.js';
import { Requester, type RequestOutcome } from './message-request.js';
import { MessageSender, type KeyedSend, type SendInput, type SendOutcome, type SendResult } from './message-send.js';

export type { MessageCounters } from './message-counters.js';
export type { FetchCursor, FetchPage } from './message-fetch.js';
export { messageJson, parseMessage, type PendingMessage } from './message-json.js';
export type { KeyedSend, SendInput, SendOutcome, SendResult } from './message-send.js';

/** Message ids one ack script call handles at most. */
export const ACK_PAGE = 200;

export class MessageService {
  readonly counters: MessageCounters = newMessageCounters();
  private readonly sender: MessageSender;
  private readonly inbox: InboxReader;
  private readonly requester: Requester;

  constructor(
    private readonly ctx: RegistryContext,
    membership: MembershipView,
    /** One bounded cleanup batch (InstanceService.cleanupBatch): a send may need it first. */
    cleanupBatch: () => Promise<{ removed: string[] }>,
  ) {
    this.sender = new MessageSender(ctx, this.counters, membership, cleanupBatch);
    this.inbox = new InboxReader(ctx, this.counters);
    this.requester = new Requester(ctx, this.counters, this.sender, this.inbox, (id, ids) => this.ack(id, ids));
  }

  async send(source: string, input: SendInput, idem?: KeyedSend): Promise<SendResult> {
    return (await this.submit(source, input, idem)).result;
  }

  /** send(), saying also whether the answer is a replay of the Idempotency-Key's first send. */
  submit(source: string, input: SendInput, idem?: KeyedSend): Promise<SendOutcome> {
    return this.sender.submit(source, input, idem);
  }

  /** One page of what `id` has not acknowledged yet (see InboxReader.fetchPage). */
  fetchPage(id: string, limit: number, after?: FetchCursor, maxBytes?: number): Promise<FetchPage> {
    return this.inbox.fetchPage(id, limit, after, maxBytes);
  }

  /** Everything not yet acked by `id` that fits one answer, oldest first. */
  fetch(id: string, limit: number): Promise<PendingMessage[]> {
    return this.inbox.fetch(id, limit);
  }

  /** Long-poll: as soon as anything is pending for `id`, or [] after `waitMs`. */
  fetchWait(id: string, limit: number, waitMs: number, signal?: AbortSignal): Promise<PendingMessage[]> {
    return this.inbox.fetchWait(id, limit, waitMs, signal);
  }

  async ack(id: string, messageIds: string[]): Promise<number> {
    if (messageIds.length === 0) return 0;
    const since = this.ctx.sync?.epoch;
    let n = 0;
    for (let i = 0; i < messageIds.length; i += ACK_PAGE) {
      n += await ackScript(writeScripts(this.ctx), this.ctx.keys, id, messageIds.slice(i, i + ACK_PAGE));
    }
    this.counters.acked += n;
    // Also when nothing was left to ack: an earlier attempt's deletions must be confirmed too.
    await this.ctx.sync?.confirm(since);
    return n;
  }

  /** Sends a request and waits for its Response (see message-request.ts). */
  request(source: string, input: Omit<SendInput, 'correlation_id'>, timeoutMs: number, idem?: IdempotencyInput): Promise<RequestOutcome> {
    return this.requester.request(source, input, timeoutMs, idem);
  }

  /** Runs one bounded batch of TTL expiry and broadcast trimming (maintenance job). */
  async expireBatch(batch: number): Promise<{ expired: number; trimmed: number; more: boolean }> {
    const r = await expireMessages(this.ctx.scripts, this.ctx.keys, { ttlMs: this.ctx.config.MESSAGE_TTL_MS, batch });
    this.counters.expired += r.expiredInbox + r.expiredBroadcast;
    return { expired: r.expiredInbox + r.expiredBroadcast, trimmed: r.trimmed, more: r.more };
  }
}
