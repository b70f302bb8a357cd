// Sending, fetching and acknowledging messages, plus the waiting forms (long-poll, SSE,
// request/response). All state changes are the send/route/fetch/ack scripts; waiting uses the
// WakeBus, never a blocking Redis connection per client.
//
// Bounded Redis work: scripts handle metadata only and never a body (Lua copies every byte it
// touches); bodies go to Redis with a plain HSET in the same MULTI as the send script and come
// back with plain HMGETs of at most FETCH_READ_BYTES each. A fetch answer carries at most
// FETCH_MAX_BYTES of bodies (one larger message still goes, alone), read in script calls of at
// most FETCH_PAGE_ENTRIES entries.
import { v7 as uuidv7 } from 'uuid';
import { errors } from '../errors.js';
import { isoFromMs, writeScripts, type RegistryContext } from './context.js';
import { answerKey, decodeRecord, recordKey, type IdempotencyInput, type IdempotencyRecord, type RequestAnswer } from './idempotency.js';
import type { MembershipView } from './membership.js';
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
  /** Sends answered with the first result of their Idempotency-Key (nothing queued). */
  replayed: number;
}

/** An Idempotency-Key on a send, and what to remember with it (a server-side request's correlation id). */
export interface KeyedSend extends IdempotencyInput {
  remember?: string;
}

/** What send() did, for callers that need more than the wire result. */
export interface SendOutcome {
  result: SendResult;
  /** The key had been used: this is the first send's result, nothing was queued now. */
  replayed: boolean;
  /** What the first send of the key remembered ('' without a key). */
  remembered: string;
}

/** Thrown by the send paths when send.lua found the key used (a concurrent retry); submit() answers it. */
class Replayed {
  constructor(readonly record: Omit<IdempotencyRecord, 'f'>) {}
}

/** send.lua's answer for a key: a replay (code 0) becomes Replayed, a mismatch (-7) a 422. */
function checkKeyed(reply: unknown[], idem: KeyedSend | undefined): void {
  const code = Number(reply[0]);
  if (code === -7) throw errors.idempotencyKeyMismatch(idem?.key ?? '');
  if (code === 0) {
    const [, , m, x, k, ...r] = reply as [number, number, string, string, string, ...(string | number)[]];
    throw new Replayed({ m, x, k, r });
  }
}

/** send.lua's idempotency arguments (ARGV[10..13]). */
function keyArgs(idem: KeyedSend | undefined, ttlMs: number): (string | number)[] {
  return idem ? [idem.key, idem.fingerprint, ttlMs, idem.remember ?? ''] : ['', '', 0, ''];
}

/** Entries one fetch script call looks at, at most (per source: inbox, broadcasts). */
export const FETCH_PAGE_ENTRIES = 100;
/** Bytes of bodies one HMGET reads at most. */
export const FETCH_READ_BYTES = 1024 * 1024;
/** Message ids one ack script call handles at most. */
export const ACK_PAGE = 200;
/** Capability routing: live holders compared per send, and index entries examined at most. */
export const ROUTE_WINDOW = 32;
export const ROUTE_SCAN = 256;
/** Lapsed members a broadcast may find awaiting cleanup; more, and it runs cleanup first. */
export const BROADCAST_LAPSED_MAX = 1000;

type StoredBody = Omit<AgentMessage, 'created_at' | 'target_instance'>;

function typeName(t: MessageType): string {
  return typeof t === 'string' ? t : 'Custom';
}

/** What the fetch script says about one pending message (its body is read separately). */
interface PendingRef {
  kind: 'i' | 'b';
  messageId: string;
  /** inbox: stream id; broadcast: bseq */
  ref: string;
  seq: number;
  bytes: number;
  createdMs: number;
}

/** Where a page of pending messages ends; the next page starts after it. */
export interface FetchCursor {
  inbox: string;
  broadcast: string;
}

/**
 * A pending message as the JSON text of its AgentMessage: built by splicing the stored body, never
 * parsed and serialized again (a 4 MiB answer cost the replica ~20 ms of event loop that way).
 */
export interface PendingMessage {
  message_id: string;
  json: string;
}

export interface FetchPage {
  messages: PendingMessage[];
  /** Whether more may be pending after `next`. */
  more: boolean;
  next: FetchCursor;
}

/**
 * The AgentMessage JSON of a stored body: the body already holds message_id, source_instance,
 * message_type, payload and correlation_id (JSON.stringify of validated input, see send());
 * target_instance and created_at are added in front. Same fields and values as decode().
 */
export function messageJson(body: string, target: string | null, createdMs: number): string {
  return `{"target_instance":${target === null ? 'null' : JSON.stringify(target)},"created_at":"${isoFromMs(createdMs)}",${body.slice(1)}`;
}

/** The wire object of a pending message (for the few callers that inspect it). */
export const parseMessage = (m: PendingMessage): AgentMessage => JSON.parse(m.json) as AgentMessage;

function decode(body: string, target: string | null, createdMs: number): AgentMessage {
  const b = JSON.parse(body) as StoredBody;
  return {
    message_id: b.message_id,
    source_instance: b.source_instance,
    target_instance: target,
    message_type: b.message_type,
    payload: b.payload,
    correlation_id: b.correlation_id,
    created_at: isoFromMs(createdMs),
  };
}

export class MessageService {
  readonly counters: MessageCounters = { sent: 0, delivered: 0, acked: 0, expired: 0, rejected: 0, replayed: 0 };

  constructor(
    private readonly ctx: RegistryContext,
    private readonly membership: MembershipView,
    /** One bounded cleanup batch (InstanceService.cleanupBatch): a broadcast may need it first. */
    private readonly cleanupBatch: () => Promise<{ removed: string[] }>,
  ) {}

  async send(source: string, input: SendInput, idem?: KeyedSend): Promise<SendResult> {
    return (await this.submit(source, input, idem)).result;
  }

  /**
   * send(), saying also whether the answer is a replay. With an Idempotency-Key used by `source`
   * within IDEMPOTENCY_TTL_MS, the first send's result comes back and nothing is queued: send.lua
   * checks the key atomically, as its first step. A capability send looks first (one GET), so a
   * retry is not routed again; a direct or broadcast send needs no extra round trip, and its first
   * Redis command is the send itself (an attempt that fails after it was sent is a replay later).
   */
  async submit(source: string, input: SendInput, idem?: KeyedSend): Promise<SendOutcome> {
    const { config } = this.ctx;
    // REDIS_SYNC_REPLICAS: a connection change from here on voids the replicas' confirmation.
    const since = this.ctx.sync?.epoch;
    const payloadJson = JSON.stringify(input.payload);
    if (Buffer.byteLength(payloadJson) > config.MAX_PAYLOAD_BYTES) {
      this.counters.rejected++;
      throw errors.payloadTooLarge(config.MAX_PAYLOAD_BYTES);
    }
    if (idem && input.target_instance === null && input.target_capability) {
      const first = await this.firstSend(source, idem);
      if (first) return this.replay(source, first, since);
    }
    const messageId = uuidv7();
    const stored: StoredBody = {
      message_id: messageId,
      source_instance: source,
      message_type: input.message_type,
      payload: input.payload,
      correlation_id: input.correlation_id,
    };
    const body = JSON.stringify(stored);
    let delivered: string[];
    try {
      delivered =
        input.target_instance !== null
          ? await this.sendDirect(source, input.target_instance, messageId, body, idem)
          : input.target_capability
            ? await this.sendToCapability(source, input.target_capability, messageId, body, idem)
            : await this.broadcast(source, messageId, body, idem);
    } catch (err) {
      if (err instanceof Replayed) return this.replay(source, err.record, since);
      this.counters.rejected++;
      throw err;
    }
    this.counters.sent++;
    this.counters.delivered += delivered.length;
    if (input.target_instance === null && !input.target_capability) {
      if (delivered.length > 0) this.ctx.wake.broadcast(source);
    } else {
      this.ctx.wake.messages(delivered, messageId, input.correlation_id, typeName(input.message_type));
    }
    await this.ctx.sync?.confirm(since);
    return { result: { message_id: messageId, status: 'queued', delivered_to: delivered }, replayed: false, remembered: idem?.remember ?? '' };
  }

  /** The record of the key's first send, if any (422 when it was for a different request). */
  private async firstSend(source: string, idem: KeyedSend): Promise<Omit<IdempotencyRecord, 'f'> | null> {
    const raw = await writeScripts(this.ctx).client.get(recordKey(this.ctx.keys.prefix, source, idem.key));
    if (raw === null) return null;
    const first = decodeRecord(raw);
    if (first.f !== idem.fingerprint) throw errors.idempotencyKeyMismatch(idem.key);
    return first;
  }

  /** The first send's answer again: its message id, and its recipients named the way it did. */
  private async replay(source: string, first: Omit<IdempotencyRecord, 'f'>, since: number | undefined): Promise<SendOutcome> {
    const code = Number(first.r[0]);
    const delivered =
      code === 2 ? [] : first.k === 'broadcast' ? await this.recipientsOf(source, first.r as unknown[]) : [String(first.r[2])];
    this.counters.replayed++;
    // The first attempt may have been answered 503 not_replicated: confirm it now.
    await this.ctx.sync?.confirm(since);
    return { result: { message_id: first.m, status: 'queued', delivered_to: delivered }, replayed: true, remembered: first.x };
  }

  private async sendDirect(source: string, target: string, messageId: string, body: string, idem?: KeyedSend): Promise<string[]> {
    const code = await this.queue(source, target, messageId, body, idem);
    if (code === -1) throw errors.sourceNotFound(source);
    if (code === -2) throw errors.targetNotFound(target);
    if (code === -3) throw errors.inboxFull(target);
    return [target];
  }

  /** The body (plain HSET) and the checks + metadata (send.lua) in one MULTI. */
  private async queue(source: string, target: string, messageId: string, body: string, idem?: KeyedSend): Promise<number> {
    const { keys, config } = this.ctx;
    const reply = (await writeScripts(this.ctx).runAfter(
      [['hset', keys.inboxBodies(target), messageId, body]],
      'send',
      this.sendKeys(),
      [
        keys.prefix, 'direct', source, target, messageId, Buffer.byteLength(body), config.INBOX_MAX, config.MESSAGE_TTL_MS, 0,
        ...keyArgs(idem, config.IDEMPOTENCY_TTL_MS),
      ],
    )) as unknown[];
    checkKeyed(reply, idem);
    const [code, expired] = reply as [number, number];
    this.counters.expired += expired;
    return code;
  }

  private sendKeys(): string[] {
    const { keys } = this.ctx;
    return [
      keys.deadlines,
      keys.broadcast,
      keys.broadcastIndex,
      keys.broadcastBodies,
      keys.broadcastSeq,
      keys.seq,
      keys.events,
      keys.broadcastLoad,
    ];
  }

  /**
   * route.lua picks the recipient (bounded window of holders), then the message is queued like a
   * direct one. When the pick lapses or fills up in between, it is picked again.
   */
  private async sendToCapability(source: string, capability: string, messageId: string, body: string, idem?: KeyedSend): Promise<string[]> {
    const { keys, config } = this.ctx;
    for (let attempt = 0; ; attempt++) {
      const [code, target] = (await this.ctx.scripts.run(
        'route',
        // Holders of the capability and members whose A2A card has a skill of that id or tag.
        [keys.cap(capability), keys.roundRobin, keys.skill(capability)],
        [keys.prefix, source, config.INBOX_MAX, ROUTE_WINDOW, ROUTE_SCAN],
      )) as [number, string | null];
      if (code === -1) throw errors.sourceNotFound(source);
      if (code === -3) throw errors.inboxFull(capability);
      if (code === -4) throw errors.noCapableInstance(capability);
      if (code === -6) {
        // The window held only lapsed holders awaiting cleanup: clean some up (bounded batches)
        // and pick again, rather than fail while live holders exist further on.
        let removed = 0;
        for (let i = 0; i < 20; i++) {
          const n = (await this.cleanupBatch()).removed.length;
          removed += n;
          if (n === 0) break;
        }
        if (removed === 0 || attempt >= 5) throw errors.unavailable(`No live holder of '${capability}' found among ${ROUTE_SCAN} entries; retry shortly`);
        continue;
      }
      const queued = await this.queue(source, target!, messageId, body, idem);
      if (queued === 1) return [target!];
      if (queued === -1) throw errors.sourceNotFound(source);
      if (attempt >= 5) throw queued === -3 ? errors.inboxFull(target!) : errors.noCapableInstance(capability);
    }
  }

  /**
   * Stored once, in O(1) Redis work whatever the number of members; the recipients (exact: the
   * members that had joined and were live at that moment, except the sender) are named from the
   * replica's membership view at the feed position the script returned.
   */
  private async broadcast(source: string, messageId: string, body: string, idem?: KeyedSend): Promise<string[]> {
    const { keys, config } = this.ctx;
    // The view must exist before the broadcast: it has to know the feed from before that moment.
    await this.membership.ensureBuilt();
    for (;;) {
      const reply = (await writeScripts(this.ctx).runAfter(
        [['hset', keys.broadcastBodies, messageId, body]],
        'send',
        this.sendKeys(),
        [
          keys.prefix, 'broadcast', source, '', messageId, Buffer.byteLength(body), config.INBOX_MAX, config.MESSAGE_TTL_MS, BROADCAST_LAPSED_MAX,
          ...keyArgs(idem, config.IDEMPOTENCY_TTL_MS),
        ],
      )) as unknown[];
      checkKeyed(reply, idem);
      const code = Number(reply[0]);
      if (code === -1) throw errors.sourceNotFound(source);
      if (code === -3) throw errors.broadcastBacklogFull(reply.slice(2) as string[]);
      if (code === 2) return [];
      if (code === -5) {
        // More lapsed members than one call may name: clean some up (bounded batches), then retry.
        for (let i = 0; i < 20; i++) if ((await this.cleanupBatch()).removed.length === 0) break;
        continue;
      }
      return this.recipientsOf(source, reply);
    }
  }

  /** The recipients of a stored broadcast, from send.lua's success reply (its moment). */
  private recipientsOf(source: string, reply: unknown[]): Promise<string[]> {
    const [, , , joinSeq, eventsId, lapsedCount, ...lapsed] = reply as [number, number, number, number, string, number, ...string[]];
    if (lapsed.length !== Number(lapsedCount)) throw new Error('send.lua: lapsed list length mismatch');
    return this.membership.recipientsAt({ joinSeq: Number(joinSeq), eventsId: String(eventsId), sender: source, lapsed: lapsed.map(String) });
  }

  /**
   * One page of what `id` has not acknowledged yet, oldest first, within `limit` messages and
   * FETCH_MAX_BYTES of bodies. Throws instance_not_found when `id` is not live.
   */
  async fetchPage(id: string, limit: number, after?: FetchCursor, maxBytes = this.ctx.config.FETCH_MAX_BYTES): Promise<FetchPage> {
    const { keys, config } = this.ctx;
    const refs: PendingRef[] = [];
    let cursor: FetchCursor = after ?? { inbox: '', broadcast: '' };
    let bytes = 0;
    let more = true;
    while (more && refs.length < limit && (refs.length === 0 || bytes < maxBytes)) {
      const reply = (await this.ctx.scripts.run(
        'fetch',
        [keys.deadlines, keys.broadcast],
        [
          keys.prefix,
          id,
          Math.min(FETCH_PAGE_ENTRIES, limit - refs.length),
          maxBytes - bytes,
          config.MESSAGE_TTL_MS,
          cursor.inbox,
          cursor.broadcast,
          // The first entry of the answer is taken whatever its size (delivered alone if need be).
          refs.length === 0 ? '1' : '0',
        ],
      )) as [number, number, number, string, string, ...[string, string, string | number, number, number, number][]];
      const [code, expired, moreFlag, nextInbox, nextBroadcast, ...items] = reply;
      this.counters.expired += expired;
      if (code !== 1) throw errors.instanceNotFound(id);
      for (const [kind, messageId, ref, seq, n, createdMs] of items) {
        refs.push({ kind: kind as 'i' | 'b', messageId, ref: String(ref), seq: Number(seq), bytes: Number(n), createdMs: Number(createdMs) });
        bytes += Number(n);
      }
      cursor = { inbox: nextInbox, broadcast: nextBroadcast };
      more = moreFlag === 1;
      // A page cut short by the byte budget: the answer is full.
      if (items.length === 0) break;
    }
    return { messages: await this.loadBodies(id, refs), more, next: cursor };
  }

  /** Reads the bodies of `refs` with plain HMGETs of at most FETCH_READ_BYTES each. */
  private async loadBodies(id: string, refs: PendingRef[]): Promise<PendingMessage[]> {
    const { keys } = this.ctx;
    const redis = this.ctx.scripts.client;
    const bodies = new Map<string, string>();
    const read = async (key: string, group: PendingRef[]) => {
      for (let i = 0; i < group.length; ) {
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
      read(keys.inboxBodies(id), refs.filter((r) => r.kind === 'i')),
      read(keys.broadcastBodies, refs.filter((r) => r.kind === 'b')),
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

  async ack(id: string, messageIds: string[]): Promise<number> {
    if (messageIds.length === 0) return 0;
    const { keys } = this.ctx;
    const since = this.ctx.sync?.epoch;
    let n = 0;
    for (let i = 0; i < messageIds.length; i += ACK_PAGE) {
      n += Number(await writeScripts(this.ctx).run('ack', [keys.broadcastIndex], [keys.prefix, id, ...messageIds.slice(i, i + ACK_PAGE)]));
    }
    this.counters.acked += n;
    // Also when nothing was left to ack: an earlier attempt's deletions must be confirmed too.
    await this.ctx.sync?.confirm(since);
    return n;
  }

  /**
   * Long-poll: returns as soon as anything is pending for `id`, or [] at the deadline. The waiter is
   * registered before the first read, so a message sent in between still wakes it.
   */
  async fetchWait(id: string, limit: number, waitMs: number, signal?: AbortSignal): Promise<PendingMessage[]> {
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
  async request(
    source: string,
    input: Omit<SendInput, 'correlation_id'>,
    timeoutMs: number,
    idem?: IdempotencyInput,
  ): Promise<{ request: SendResult; response: AgentMessage; replayed: boolean }> {
    // With an Idempotency-Key a retry never sends a second Query: it returns the answer an earlier
    // attempt got, or waits for the Response to that attempt's Query (its correlation id).
    const since = this.ctx.sync?.epoch;
    if (idem) {
      const answered = await this.storedAnswer(source, idem);
      if (answered) {
        this.counters.replayed++;
        await this.ctx.sync?.confirm(since);
        return { request: answered.request, response: answered.response, replayed: true };
      }
    }
    let correlationId = uuidv7();
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
    // The Response is gone from the inbox: with a key, another attempt may have taken it (and stored it).
    const takenElsewhere = async () => (idem ? ((await this.storedAnswer(source, idem))?.response ?? null) : null);
    const check = async (notice: WakeNotice) => {
      try {
        let msg: AgentMessage | null = null;
        if (notice.k === 'm') {
          if (notice.cid === correlationId && notice.t === 'Response') msg = (await this.peek(source, notice.mid)) ?? (await takenElsewhere());
        } else if (notice.k === 'e') {
          // A reconnect of the wake subscription: a notice may have been lost, look for it.
          msg = (await this.findResponse(source, correlationId)) ?? (await takenElsewhere());
        }
        if (msg) found?.(msg);
      } catch (err) {
        failed?.(err);
      }
    };
    const off = this.ctx.wake.onInbox(source, (n) => void check(n));
    let timer: NodeJS.Timeout | undefined;
    try {
      const sent = await this.submit(source, { ...input, correlation_id: correlationId }, idem && { ...idem, remember: correlationId });
      if (sent.replayed) {
        // An earlier attempt sent the Query: its Response may be waiting already.
        correlationId = sent.remembered;
        void check({ k: 'e' });
      }
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(errors.timeout(`No Response with correlation_id '${correlationId}' within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      const response = await Promise.race([arrived, timeout]);
      // Remembered before the ack: an attempt that finds the Response gone then finds it here.
      if (idem) await this.storeAnswer(source, idem, { f: idem.fingerprint, request: sent.result, response });
      await this.ack(source, [response.message_id]);
      return { request: sent.result, response, replayed: sent.replayed };
    } finally {
      off();
      if (timer) clearTimeout(timer);
    }
  }

  /** A keyed server-side request's remembered answer (422 when the key was for another request). */
  private async storedAnswer(source: string, idem: IdempotencyInput): Promise<RequestAnswer | null> {
    const raw = await writeScripts(this.ctx).client.get(answerKey(this.ctx.keys.prefix, source, idem.key));
    if (raw === null) return null;
    const answer = JSON.parse(raw) as RequestAnswer;
    if (answer.f !== idem.fingerprint) throw errors.idempotencyKeyMismatch(idem.key);
    return answer;
  }

  /** A plain SET (it holds the Response's body: never through Lua), for the key's window. */
  private async storeAnswer(source: string, idem: IdempotencyInput, answer: RequestAnswer): Promise<void> {
    const key = answerKey(this.ctx.keys.prefix, source, idem.key);
    await writeScripts(this.ctx).client.set(key, JSON.stringify(answer), 'PX', this.ctx.config.IDEMPOTENCY_TTL_MS);
  }

  /** One inbox message by id, without taking it (two plain reads, in one MULTI). */
  private async peek(id: string, messageId: string): Promise<AgentMessage | null> {
    const { keys } = this.ctx;
    const replies = await this.ctx.scripts.client
      .multi()
      .hget(keys.inboxIndex(id), messageId)
      .hget(keys.inboxBodies(id), messageId)
      .exec();
    const sid = replies?.[0]?.[1];
    const body = replies?.[1]?.[1];
    if (typeof sid !== 'string' || typeof body !== 'string') return null;
    return decode(body, id, Number(sid.slice(0, sid.indexOf('-'))));
  }

  private async findResponse(id: string, correlationId: string): Promise<AgentMessage | null> {
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

  /** Runs one bounded batch of TTL expiry and broadcast trimming (maintenance job). */
  async expireBatch(batch: number): Promise<{ expired: number; trimmed: number; more: boolean }> {
    const { keys, config } = this.ctx;
    const [inbox, bcast, trimmed, more] = (await this.ctx.scripts.run(
      'expire-messages',
      [keys.inboxOldest, keys.broadcast, keys.broadcastIndex, keys.broadcastBodies, keys.broadcastFloor],
      [keys.prefix, config.MESSAGE_TTL_MS, batch],
    )) as [number, number, number, number];
    this.counters.expired += inbox + bcast;
    return { expired: inbox + bcast, trimmed, more: more === 1 };
  }
}
