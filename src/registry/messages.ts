// Sending, fetching and acknowledging messages, plus the waiting forms (long-poll, SSE,
// request/response). All state changes are the send/fetch/ack scripts; waiting uses the WakeBus,
// never a blocking Redis connection per client.
import { v7 as uuidv7 } from 'uuid';
import { errors } from '../errors.js';
import { isoFromMs, type RegistryContext } from './context.js';
import type { AgentMessage, Json, MessageType } from './types.js';
import type { WakeNotice } from './wakeups.js';

export interface SendInput {
  target_instance: string | null;
  message_type: MessageType;
  payload: Json;
  correlation_id: string | null;
  /** additive: route to the least-loaded live holder of this capability */
  target_capability?: string | null;
}

export interface SendResult {
  message_id: string;
  status: 'queued';
  delivered_to: string[];
}

/** Counters the metrics layer reads; kept here so the registry has no metrics dependency. */
export interface MessageCounters {
  sent: number;
  delivered: number;
  acked: number;
  expired: number;
  rejected: number;
}

type StoredBody = Omit<AgentMessage, 'created_at' | 'target_instance'>;

function typeName(t: MessageType): string {
  return typeof t === 'string' ? t : 'Custom';
}

function decode(sid: string, body: string, target: string | null): AgentMessage {
  const b = JSON.parse(body) as StoredBody;
  return {
    message_id: b.message_id,
    source_instance: b.source_instance,
    target_instance: target,
    message_type: b.message_type,
    payload: b.payload,
    correlation_id: b.correlation_id,
    created_at: isoFromMs(sid.slice(0, sid.indexOf('-'))),
  };
}

/** Stream ids order by (ms, seq); both parts fit in a double for any realistic stream. */
function compareStreamIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

interface FetchedEntry {
  sid: string;
  body: string;
  /** Namespace-wide send sequence; null for entries written before it existed. */
  seq: number | null;
  target: string | null;
}

/**
 * Send order across the inbox and the broadcast stream. Their stream ids only agree to the
 * millisecond (each stream numbers its own entries within a millisecond), so the send sequence
 * decides; entries without one fall back to their stream ids.
 */
function compareEntries(a: FetchedEntry, b: FetchedEntry): number {
  if (a.seq !== null && b.seq !== null) return a.seq - b.seq;
  return compareStreamIds(a.sid, b.sid);
}

function collectEntries(out: FetchedEntry[], flat: string[], target: string | null): void {
  for (let i = 0; i < flat.length; i += 3) {
    const q = flat[i + 2];
    out.push({ sid: flat[i]!, body: flat[i + 1]!, seq: q ? Number(q) : null, target });
  }
}

export class MessageService {
  readonly counters: MessageCounters = { sent: 0, delivered: 0, acked: 0, expired: 0, rejected: 0 };

  constructor(private readonly ctx: RegistryContext) {}

  async send(source: string, input: SendInput): Promise<SendResult> {
    const { keys, config } = this.ctx;
    const payloadJson = JSON.stringify(input.payload);
    if (Buffer.byteLength(payloadJson) > config.MAX_PAYLOAD_BYTES) {
      this.counters.rejected++;
      throw errors.payloadTooLarge(config.MAX_PAYLOAD_BYTES);
    }
    const messageId = uuidv7();
    const body: StoredBody = {
      message_id: messageId,
      source_instance: source,
      message_type: input.message_type,
      payload: input.payload,
      correlation_id: input.correlation_id,
    };
    const mode = input.target_instance !== null ? 'direct' : input.target_capability ? 'capability' : 'broadcast';
    const target = input.target_instance ?? input.target_capability ?? '';
    const reply = (await this.ctx.scripts.run(
      'send',
      [keys.deadlines, keys.broadcast, keys.broadcastIndex, keys.joined, keys.roundRobin],
      [keys.prefix, mode, source, target, messageId, JSON.stringify(body), config.INBOX_MAX, config.MESSAGE_TTL_MS],
    )) as [number, number, ...string[]];
    const [code, expired, ...recipients] = reply;
    this.counters.expired += expired;
    if (code !== 1) {
      this.counters.rejected++;
      if (code === -1) throw errors.sourceNotFound(source);
      if (code === -2) throw errors.targetNotFound(target);
      if (code === -3) throw mode === 'broadcast' ? errors.broadcastBacklogFull(recipients) : errors.inboxFull(target);
      throw errors.noCapableInstance(target);
    }
    this.counters.sent++;
    this.counters.delivered += recipients.length;
    if (mode === 'broadcast') {
      if (recipients.length > 0) this.ctx.wake.broadcast(source);
    } else {
      this.ctx.wake.messages(recipients, messageId, input.correlation_id, typeName(input.message_type));
    }
    return { message_id: messageId, status: 'queued', delivered_to: recipients };
  }

  /** Everything not yet acked by `id`, oldest first. Throws instance_not_found when not live. */
  async fetch(id: string, limit: number): Promise<AgentMessage[]> {
    const { keys, config } = this.ctx;
    const reply = (await this.ctx.scripts.run(
      'fetch',
      [keys.deadlines, keys.broadcast],
      [keys.prefix, id, limit, config.MESSAGE_TTL_MS],
    )) as [number, number, string[], string[]];
    const [code, expired, inbox, bcast] = reply;
    this.counters.expired += expired;
    if (code !== 1) throw errors.instanceNotFound(id);
    const entries: FetchedEntry[] = [];
    collectEntries(entries, inbox, id);
    collectEntries(entries, bcast, null);
    if (bcast.length > 0 && inbox.length > 0) entries.sort(compareEntries);
    return entries.slice(0, limit).map((e) => decode(e.sid, e.body, e.target));
  }

  async ack(id: string, messageIds: string[]): Promise<number> {
    if (messageIds.length === 0) return 0;
    const { keys } = this.ctx;
    const n = Number(
      await this.ctx.scripts.run('ack', [keys.broadcast, keys.broadcastIndex], [keys.prefix, id, ...messageIds]),
    );
    this.counters.acked += n;
    return n;
  }

  /**
   * Long-poll: returns as soon as anything is pending for `id`, or [] at the deadline. The waiter is
   * registered before the first read, so a message sent in between still wakes it.
   */
  async fetchWait(id: string, limit: number, waitMs: number, signal?: AbortSignal): Promise<AgentMessage[]> {
    const deadline = Date.now() + waitMs;
    let woken = false;
    let wake: (() => void) | null = null;
    const off = this.ctx.wake.onInbox(id, () => {
      woken = true;
      wake?.();
    });
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        woken = false;
        const messages = await this.fetch(id, limit);
        if (messages.length > 0 || Date.now() >= deadline || this.ctx.wake.isClosed || signal?.aborted) {
          return messages;
        }
        if (!woken) await this.sleepUntilWoken(deadline, (fn) => (wake = fn));
      }
    } finally {
      off();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private sleepUntilWoken(deadline: number, setWake: (fn: () => void) => void): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      setWake(done);
    });
  }

  /**
   * Sends a message with a fresh correlation id and waits for the Response addressed back to
   * `source` with that id. The Response is returned and acknowledged (it is consumed here, so the
   * source's message loop does not see it a second time).
   */
  async request(source: string, input: Omit<SendInput, 'correlation_id'>, timeoutMs: number): Promise<{ request: SendResult; response: AgentMessage }> {
    const correlationId = uuidv7();
    let found: ((m: AgentMessage) => void) | null = null;
    let failed: ((e: unknown) => void) | null = null;
    const arrived = new Promise<AgentMessage>((resolve, reject) => {
      found = resolve;
      failed = reject;
    });
    // A lookup can fail while the send below is still in flight, before the race subscribes:
    // without a handler that rejection is unhandled, and main.ts shuts the replica down on those.
    // The race below still sees the rejection.
    arrived.catch(() => undefined);
    const check = async (notice: WakeNotice) => {
      try {
        const msg =
          notice.k === 'm'
            ? notice.cid === correlationId && notice.t === 'Response'
              ? await this.peek(source, notice.mid)
              : null
            : await this.findResponse(source, correlationId);
        if (msg) found?.(msg);
      } catch (err) {
        failed?.(err);
      }
    };
    const off = this.ctx.wake.onInbox(source, (n) => void check(n));
    let timer: NodeJS.Timeout | undefined;
    try {
      const request = await this.send(source, { ...input, correlation_id: correlationId });
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(errors.timeout(`No Response with correlation_id '${correlationId}' within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      const response = await Promise.race([arrived, timeout]);
      await this.ack(source, [response.message_id]);
      return { request, response };
    } finally {
      off();
      if (timer) clearTimeout(timer);
    }
  }

  private async peek(id: string, messageId: string): Promise<AgentMessage | null> {
    const { keys } = this.ctx;
    const r = (await this.ctx.scripts.run('peek', [keys.inbox(id), keys.inboxIndex(id)], [messageId])) as
      | [string, string]
      | null;
    return r ? decode(r[0], r[1], id) : null;
  }

  private async findResponse(id: string, correlationId: string): Promise<AgentMessage | null> {
    const pending = await this.fetch(id, 1000);
    return pending.find((m) => m.correlation_id === correlationId && m.message_type === 'Response') ?? null;
  }

  /** Runs one bounded batch of TTL expiry and broadcast trimming (maintenance job). */
  async expireBatch(batch: number): Promise<{ expired: number; trimmed: number; more: boolean }> {
    const { keys, config } = this.ctx;
    const [inbox, bcast, trimmed, more] = (await this.ctx.scripts.run(
      'expire-messages',
      [keys.inboxOldest, keys.broadcast, keys.broadcastIndex],
      [keys.prefix, config.MESSAGE_TTL_MS, batch],
    )) as [number, number, number, number];
    this.counters.expired += inbox + bcast;
    return { expired: inbox + bcast, trimmed, more: more === 1 };
  }
}
