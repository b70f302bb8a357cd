// What the message loop knows about each message a fetch returned: running, failed (retried after
// a backoff), or handled (its ack queued, sent, or confirmed gone). A message comes back in every
// fetch until its ack sticks, so this is what keeps it from running twice or being lost, and what
// notices an ack that did not stick.
import { MeshApiError, MeshHandlerError } from '../errors.js';
import { backoffDelay } from '../backoff.js';
import { delay } from '../delay.js';
import { messageTypeName } from '../message-types.js';
import type { AgentMessage } from '../types.js';

const HANDLER_RETRY_BASE_MS = 200;
const HANDLER_RETRY_MAX_MS = 5000;

interface Failure {
  attempts: number;
  retryAt: number;
}

export interface DeliveryHooks {
  /** Runs the handler for `m`; rejects when the handler failed. */
  handle(m: AgentMessage): Promise<void>;
  /** A Response a request() waits for: handed over (and acked), not handled. */
  takeResponse(m: AgentMessage): boolean;
  /** Acks `ids` as this agent. */
  ack(ids: string[]): Promise<void>;
  /** The current registration's number: acks of an earlier one are not bookkept. */
  registration(): number;
  closed(): boolean;
  report(err: unknown): void;
  /** Work finished (a handler, an ack): the loop may be able to do more now. */
  progressed(): void;
}

export interface DispatchResult {
  /** Something started or was handed over. */
  progressed: boolean;
  /** When the earliest failed message may run again (null: none is waiting for that). */
  nextRetryAt: number | null;
}

export class Deliveries {
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly failed = new Map<string, Failure>();
  /** Handled ids -> number of fetches started when their ack completed (0 while not yet acked). */
  private readonly done = new Map<string, number>();
  private readonly ackQueue = new Set<string>();
  private ackTask: Promise<void> | null = null;
  private fetchesStarted = 0;

  constructor(
    private readonly hooks: DeliveryHooks,
    private readonly opts: { concurrency: number; fetchLimit: number },
  ) {}

  /** Numbers a fetch as it starts: acks are compared with it (see dispatch). */
  fetchStarted(): number {
    return ++this.fetchesStarted;
  }

  /** Handlers running now. */
  get running(): number {
    return this.inflight.size;
  }

  dispatch(messages: AgentMessage[], fetchNo: number, now = Date.now()): DispatchResult {
    const seen = new Set<string>();
    let progressed = false;
    let nextRetryAt: number | null = null;
    for (const m of messages) {
      const mid = m.message_id;
      seen.add(mid);
      if (this.inflight.has(mid)) continue;
      const ackedAt = this.done.get(mid);
      if (ackedAt !== undefined) {
        // Returned by a fetch that started after its ack completed: the ack did not stick; ack again.
        if (ackedAt > 0 && fetchNo > ackedAt) this.queueAck(mid);
        continue;
      }
      const failure = this.failed.get(mid);
      if (failure && failure.retryAt > now) {
        nextRetryAt = nextRetryAt === null ? failure.retryAt : Math.min(nextRetryAt, failure.retryAt);
        continue;
      }
      if (this.hooks.takeResponse(m)) {
        this.markDone(mid);
        progressed = true;
        continue;
      }
      if (this.inflight.size >= this.opts.concurrency) continue;
      this.run(m);
      progressed = true;
    }
    // Forget bookkeeping for ids the server no longer returns (only from a complete view, and for
    // acked ids only once a fetch that started after the ack shows them gone).
    if (messages.length < this.opts.fetchLimit) {
      for (const mid of this.failed.keys()) if (!seen.has(mid) && !this.inflight.has(mid)) this.failed.delete(mid);
      for (const [mid, ackedAt] of this.done) if (!seen.has(mid) && ackedAt > 0 && fetchNo > ackedAt) this.done.delete(mid);
    }
    return { progressed, nextRetryAt };
  }

  private run(m: AgentMessage): void {
    const mid = m.message_id;
    const task = this.hooks
      .handle(m)
      .then(
        () => {
          this.failed.delete(mid);
          this.markDone(mid);
        },
        (err: unknown) => {
          const f = this.failed.get(mid) ?? { attempts: 0, retryAt: 0 };
          f.attempts++;
          const cap = Math.min(HANDLER_RETRY_MAX_MS, HANDLER_RETRY_BASE_MS * 2 ** (f.attempts - 1));
          f.retryAt = Date.now() + cap / 2 + Math.random() * (cap / 2);
          this.failed.set(mid, f);
          this.hooks.report(new MeshHandlerError(mid, messageTypeName(m.message_type), f.attempts, err));
        },
      )
      .finally(() => {
        this.inflight.delete(mid);
        this.hooks.progressed();
      });
    this.inflight.set(mid, task);
  }

  private markDone(mid: string): void {
    this.done.set(mid, 0);
    this.queueAck(mid);
  }

  private queueAck(mid: string): void {
    this.ackQueue.add(mid);
    if (!this.ackTask) {
      this.ackTask = this.flushAcks().finally(() => {
        this.ackTask = null;
        this.hooks.progressed();
      });
    }
  }

  private async flushAcks(): Promise<void> {
    for (let failures = 0; this.ackQueue.size > 0;) {
      const batch = [...this.ackQueue];
      this.ackQueue.clear();
      const gen = this.hooks.registration();
      try {
        await this.hooks.ack(batch);
        // Later fetches that started before now may still list them; see dispatch().
        const mark = this.fetchesStarted;
        if (gen === this.hooks.registration()) for (const mid of batch) if (this.done.has(mid)) this.done.set(mid, mark);
        failures = 0;
      } catch (err) {
        this.hooks.report(err);
        // 4xx: the registration is gone (its queues with it) or we may not ack: nothing to retry.
        if (this.hooks.closed() || (err instanceof MeshApiError && err.status < 500)) return;
        for (const mid of batch) this.ackQueue.add(mid);
        failures++;
        await delay(50 + backoffDelay(Math.min(failures, 7), 200, 5000));
      }
    }
  }

  /** The registration is gone, and its queues with it: nothing pending there can be acked any more. */
  forgetAll(): void {
    this.failed.clear();
    this.done.clear();
    this.ackQueue.clear();
  }

  /** Lets running handlers finish, for at most `ms`. */
  async drain(ms: number): Promise<void> {
    if (this.inflight.size === 0) return;
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.allSettled([...this.inflight.values()]), new Promise((r) => (t = setTimeout(r, ms)))]);
    clearTimeout(t);
  }

  /** Sends the acks still queued (closing). */
  async flush(): Promise<void> {
    await this.ackTask?.catch(() => undefined);
    await this.flushAcks().catch(() => undefined);
  }
}
