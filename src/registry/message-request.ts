// Server-side request/response (POST /messages/request): send a message with a fresh correlation id
// and wait, on this replica, for the Response addressed back with that id. The Response is consumed
// here (acked), so the source's own message loop does not see it a second time.
import { v7 as uuidv7 } from 'uuid';
import { errors } from '../errors.js';
import type { RegistryContext } from './context.js';
import { IdempotencyStore, type IdempotencyInput } from './idempotency.js';
import type { MessageCounters } from './message-counters.js';
import type { InboxReader } from './message-fetch.js';
import type { MessageSender, SendInput, SendResult } from './message-send.js';
import type { AgentMessage } from './types.js';
import type { WakeNotice } from './wakeups.js';

export interface RequestOutcome {
  request: SendResult;
  response: AgentMessage;
  /** An earlier attempt with the same Idempotency-Key sent the Query (and maybe got the answer). */
  replayed: boolean;
}

export class Requester {
  private readonly idempotency: IdempotencyStore;

  constructor(
    private readonly ctx: RegistryContext,
    private readonly counters: MessageCounters,
    private readonly sender: MessageSender,
    private readonly inbox: InboxReader,
    private readonly ack: (id: string, messageIds: string[]) => Promise<number>,
  ) {
    this.idempotency = new IdempotencyStore(ctx);
  }

  async request(
    source: string,
    input: Omit<SendInput, 'correlation_id'>,
    timeoutMs: number,
    idem?: IdempotencyInput,
  ): Promise<RequestOutcome> {
    // With an Idempotency-Key a retry never sends a second Query: it returns the answer an earlier
    // attempt got, or waits for the Response to that attempt's Query (its correlation id).
    const since = this.ctx.sync?.epoch;
    if (idem) {
      const answered = await this.idempotency.storedAnswer(source, idem);
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
    const takenElsewhere = async () => (idem ? ((await this.idempotency.storedAnswer(source, idem))?.response ?? null) : null);
    const check = async (notice: WakeNotice) => {
      try {
        let msg: AgentMessage | null = null;
        if (notice.k === 'm') {
          if (notice.cid === correlationId && notice.t === 'Response')
            msg = (await this.inbox.peek(source, notice.mid)) ?? (await takenElsewhere());
        } else if (notice.k === 'e') {
          // A reconnect of the wake subscription: a notice may have been lost, look for it.
          msg = (await this.inbox.findResponse(source, correlationId)) ?? (await takenElsewhere());
        }
        if (msg) found?.(msg);
      } catch (err) {
        failed?.(err);
      }
    };
    const off = this.ctx.wake.onInbox(source, (n) => void check(n));
    let timer: NodeJS.Timeout | undefined;
    try {
      const sent = await this.sender.submit(
        source,
        { ...input, correlation_id: correlationId },
        idem && { ...idem, remember: correlationId },
      );
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
      if (idem) await this.idempotency.storeAnswer(source, idem, { f: idem.fingerprint, request: sent.result, response });
      await this.ack(source, [response.message_id]);
      return { request: sent.result, response, replayed: sent.replayed };
    } finally {
      off();
      if (timer) clearTimeout(timer);
    }
  }
}
