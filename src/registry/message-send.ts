// Sending: direct, capability-routed and broadcast, each one atomic send.lua call (through the typed
// wrapper) with the body written beside it, never through Lua. An Idempotency-Key makes a retry
// return the first send's result (idempotency.ts).
import { v7 as uuidv7 } from 'uuid';
import { errors } from '../errors.js';
import { route } from '../redis/scripts/route.js';
import { ReplyCode } from '../redis/scripts/reply-codes.js';
import { sendBroadcast, sendDirect, type BroadcastMoment, type KeyedArgs, type Replay } from '../redis/scripts/send.js';
import { writeScripts, type RegistryContext } from './context.js';
import { IdempotencyStore, type FirstSend, type IdempotencyInput } from './idempotency.js';
import type { MembershipView } from './membership.js';
import type { MessageCounters } from './message-counters.js';
import { typeName, type StoredBody } from './message-json.js';
import type { Json, MessageType } from './types.js';

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

/** An Idempotency-Key on a send, and what to remember with it (a server-side request's correlation id). */
export interface KeyedSend extends IdempotencyInput {
  remember?: string;
}

/** What submit() did, for callers that need more than the wire result. */
export interface SendOutcome {
  result: SendResult;
  /** The key had been used: this is the first send's result, nothing was queued now. */
  replayed: boolean;
  /** What the first send of the key remembered ('' without a key). */
  remembered: string;
}

/** Capability routing: live holders compared per send, and index entries examined at most. */
export const ROUTE_WINDOW = 32;
export const ROUTE_SCAN = 256;
/** Lapsed members a broadcast may find awaiting cleanup; more, and it runs cleanup first. */
export const BROADCAST_LAPSED_MAX = 1000;
/** Cleanup batches a send runs at most before trying again, and attempts at most. */
const CLEANUP_ROUNDS = 20;
const ROUTE_ATTEMPTS = 5;

/** Thrown inside the send paths when send.lua found the key used (a concurrent retry); submit() answers it. */
class Replayed extends Error {
  constructor(readonly first: FirstSend) {
    super('the Idempotency-Key was used: replay its first send');
  }
}

type KeyUsed = Replay | { code: typeof ReplyCode.KeyMismatch };

/** send.lua found the key used: a replay goes back to submit(), a mismatch is a 422. */
function settleKeyed<R extends { code: number }>(reply: R, idem: KeyedSend | undefined): Exclude<R, KeyUsed> {
  if (reply.code === ReplyCode.KeyMismatch) throw errors.idempotencyKeyMismatch(idem?.key ?? '');
  if (reply.code === ReplyCode.Replayed) {
    const { messageId, remembered, first } = reply as unknown as Replay;
    throw new Replayed({ messageId, remembered, first });
  }
  return reply as Exclude<R, KeyUsed>;
}

export class MessageSender {
  private readonly idempotency: IdempotencyStore;

  constructor(
    private readonly ctx: RegistryContext,
    private readonly counters: MessageCounters,
    private readonly membership: MembershipView,
    /** One bounded cleanup batch (InstanceService.cleanupBatch): a send may need it first. */
    private readonly cleanupBatch: () => Promise<{ removed: string[] }>,
  ) {
    this.idempotency = new IdempotencyStore(ctx);
  }

  /**
   * Sends, saying also whether the answer is a replay. With an Idempotency-Key used by `source`
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
      const first = await this.idempotency.firstSend(source, idem);
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
          ? await this.toInstance(source, input.target_instance, messageId, body, idem)
          : input.target_capability
            ? await this.toCapability(source, input.target_capability, messageId, body, idem)
            : await this.broadcast(source, messageId, body, idem);
    } catch (err) {
      if (err instanceof Replayed) return this.replay(source, err.first, since);
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
    return {
      result: { message_id: messageId, status: 'queued', delivered_to: delivered },
      replayed: false,
      remembered: idem?.remember ?? '',
    };
  }

  /** The first send's answer again: its message id, and its recipients named the way it did. */
  private async replay(source: string, f: FirstSend, since: number | undefined): Promise<SendOutcome> {
    const delivered =
      f.first.code === ReplyCode.NobodyElseLive
        ? []
        : f.first.mode === 'broadcast'
          ? await this.recipientsOf(source, f.first.moment)
          : [f.first.target];
    this.counters.replayed++;
    // The first attempt may have been answered 503 not_replicated: confirm it now.
    await this.ctx.sync?.confirm(since);
    return { result: { message_id: f.messageId, status: 'queued', delivered_to: delivered }, replayed: true, remembered: f.remembered };
  }

  private keyed(idem: KeyedSend | undefined): KeyedArgs | null {
    return idem
      ? { key: idem.key, fingerprint: idem.fingerprint, ttlMs: this.ctx.config.IDEMPOTENCY_TTL_MS, remember: idem.remember ?? '' }
      : null;
  }

  private async toInstance(source: string, target: string, messageId: string, body: string, idem?: KeyedSend): Promise<string[]> {
    const code = await this.queue(source, target, messageId, body, idem);
    if (code === ReplyCode.NotLive) throw errors.sourceNotFound(source);
    if (code === ReplyCode.TargetNotLive) throw errors.targetNotFound(target);
    if (code === ReplyCode.InboxFull) throw errors.inboxFull(target);
    return [target];
  }

  /** The body (plain HSET) and the checks + metadata (send.lua) in one MULTI. */
  private async queue(source: string, target: string, messageId: string, body: string, idem?: KeyedSend): Promise<ReplyCode> {
    const { keys, config } = this.ctx;
    const reply = settleKeyed(
      await sendDirect(writeScripts(this.ctx), keys, {
        source,
        target,
        messageId,
        body,
        inboxMax: config.INBOX_MAX,
        ttlMs: config.MESSAGE_TTL_MS,
        idem: this.keyed(idem),
      }),
      idem,
    );
    this.counters.expired += reply.expired;
    return reply.code;
  }

  /** Runs bounded cleanup batches until one removes nothing; returns how many members went. */
  private async cleanUp(): Promise<number> {
    let removed = 0;
    for (let i = 0; i < CLEANUP_ROUNDS; i++) {
      const n = (await this.cleanupBatch()).removed.length;
      removed += n;
      if (n === 0) break;
    }
    return removed;
  }

  /**
   * route.lua picks the recipient (bounded window of holders), then the message is queued like a
   * direct one. When the pick lapses or fills up in between, it is picked again.
   */
  private async toCapability(source: string, capability: string, messageId: string, body: string, idem?: KeyedSend): Promise<string[]> {
    const { keys, config } = this.ctx;
    for (let attempt = 0; ; attempt++) {
      const picked = await route(this.ctx.scripts, keys, {
        capability,
        source,
        inboxMax: config.INBOX_MAX,
        window: ROUTE_WINDOW,
        scan: ROUTE_SCAN,
      });
      switch (picked.code) {
        case ReplyCode.NotLive:
          throw errors.sourceNotFound(source);
        case ReplyCode.InboxFull:
          throw errors.inboxFull(capability);
        case ReplyCode.NoHolder:
          throw errors.noCapableInstance(capability);
        case ReplyCode.HoldersLapsed:
          // The window held only lapsed holders awaiting cleanup: clean some up (bounded batches)
          // and pick again, rather than fail while live holders exist further on.
          if ((await this.cleanUp()) === 0 || attempt >= ROUTE_ATTEMPTS) {
            throw errors.unavailable(`No live holder of '${capability}' found among ${ROUTE_SCAN} entries; retry shortly`);
          }
          continue;
        case ReplyCode.Ok:
          break;
      }
      const queued = await this.queue(source, picked.target, messageId, body, idem);
      if (queued === ReplyCode.Ok) return [picked.target];
      if (queued === ReplyCode.NotLive) throw errors.sourceNotFound(source);
      // The pick lapsed (TargetNotLive) or filled up (InboxFull) since route.lua chose it: pick again.
      if (attempt >= ROUTE_ATTEMPTS) {
        throw queued === ReplyCode.InboxFull ? errors.inboxFull(picked.target) : errors.noCapableInstance(capability);
      }
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
      const reply = settleKeyed(
        await sendBroadcast(writeScripts(this.ctx), keys, {
          source,
          messageId,
          body,
          inboxMax: config.INBOX_MAX,
          ttlMs: config.MESSAGE_TTL_MS,
          lapsedMax: BROADCAST_LAPSED_MAX,
          idem: this.keyed(idem),
        }),
        idem,
      );
      switch (reply.code) {
        case ReplyCode.NotLive:
          throw errors.sourceNotFound(source);
        case ReplyCode.InboxFull:
          throw errors.broadcastBacklogFull(reply.full);
        case ReplyCode.NobodyElseLive:
          return [];
        case ReplyCode.TooManyLapsed:
          // More lapsed members than one call may name: clean some up (bounded batches), then retry.
          await this.cleanUp();
          continue;
        case ReplyCode.Ok:
          return this.recipientsOf(source, reply.moment);
      }
    }
  }

  /** The recipients of a stored broadcast, from the moment send.lua returned. */
  private recipientsOf(source: string, moment: BroadcastMoment): Promise<string[]> {
    return this.membership.recipientsAt({ joinSeq: moment.joinSeq, eventsId: moment.eventsId, sender: source, lapsed: moment.lapsed });
  }
}
