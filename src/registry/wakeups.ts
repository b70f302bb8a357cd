// In-process waiters woken by ONE pub/sub subscription per replica. A long-poll, SSE stream or
// request/response call registers a callback here instead of holding its own Redis connection;
// after every send/state change the acting replica publishes a small notice on the namespace's
// wake channel (sharded pub/sub on Cluster, so it lands on the namespace's shard only).
import type { Logger } from 'pino';
import { Cluster } from 'ioredis';
import type { RedisClient } from '../redis/client.js';
import { Waiter } from './waiter.js';

/** What travels on the wake channel. */
export type WakeNotice = { k: 'm'; to: string[]; mid: string; cid: string | null; t: string } | { k: 'b'; except: string } | { k: 'e' };

export type InboxListener = (notice: WakeNotice) => void;

export class WakeBus {
  private readonly inbox = new Map<string, Set<InboxListener>>();
  private readonly eventListeners = new Set<() => void>();
  private readonly followers = new Set<() => void>();
  private started = false;

  constructor(
    private readonly publisher: RedisClient,
    private readonly subscriber: RedisClient | null,
    private readonly channel: string,
    private readonly log: Logger,
  ) {}

  private get sharded(): boolean {
    return this.publisher instanceof Cluster;
  }

  async start(): Promise<void> {
    if (this.started || !this.subscriber) return;
    this.started = true;
    const sub = this.subscriber;
    // Subscribe only once the connection is ready. ioredis writes a SUBSCRIBE issued during its
    // handshake (status 'connect') at once; the reply switches the connection to subscriber mode
    // before the ready check sends INFO, which then fails ("Connection in subscriber mode") and
    // forces a reconnect. Sentinel connections sit in that state long enough to hit it often.
    if (sub.status !== 'ready') await new Promise<void>((resolve) => sub.once('ready', () => resolve()));
    const onMessage = (_channel: string, raw: string) => this.dispatch(raw);
    if (this.sharded) {
      sub.on('smessage', onMessage);
      await sub.ssubscribe(this.channel);
    } else {
      sub.on('message', onMessage);
      await sub.subscribe(this.channel);
    }
    // Notices published while the subscription was down are lost: wake everybody on reconnect so
    // they re-read Redis (they only ever act on what Redis says, never on the notice itself).
    sub.on('ready', () => this.wakeAll());
  }

  private dispatch(raw: string): void {
    let notice: WakeNotice;
    try {
      notice = JSON.parse(raw) as WakeNotice;
    } catch {
      this.log.warn({ raw: raw.slice(0, 200) }, 'ignoring malformed wake notice');
      return;
    }
    if (notice.k === 'e') {
      for (const fn of this.eventListeners) fn();
      for (const fn of this.followers) fn();
      return;
    }
    if (notice.k === 'm') {
      for (const id of notice.to) this.fire(id, notice);
      return;
    }
    for (const [id] of this.inbox) {
      if (id !== notice.except) this.fire(id, notice);
    }
  }

  private fire(id: string, notice: WakeNotice): void {
    const set = this.inbox.get(id);
    if (!set) return;
    for (const fn of [...set]) fn(notice);
  }

  private closed = false;

  /** Shutting down: wake every waiter so long-polls and streams end promptly. */
  close(): void {
    this.closed = true;
    this.wakeAll();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  wakeAll(): void {
    for (const [id] of this.inbox) this.fire(id, { k: 'e' });
    for (const fn of this.eventListeners) fn();
    for (const fn of this.followers) fn();
  }

  /** Calls `fn` whenever something may have arrived for `id`; returns the unsubscribe function. */
  onInbox(id: string, fn: InboxListener): () => void {
    let set = this.inbox.get(id);
    if (!set) {
      set = new Set();
      this.inbox.set(id, set);
    }
    set.add(fn);
    return () => {
      const s = this.inbox.get(id);
      if (!s) return;
      s.delete(fn);
      if (s.size === 0) this.inbox.delete(id);
    };
  }

  onEvents(fn: () => void): () => void {
    this.eventListeners.add(fn);
    return () => {
      this.eventListeners.delete(fn);
    };
  }

  /** A Waiter poked whenever something may have arrived for `id` (long-polls, message streams). */
  inboxWaiter(id: string): Waiter {
    const sub = { off: (): void => undefined };
    const waiter = new Waiter(
      () => sub.off(),
      () => this.closed,
    );
    sub.off = this.onInbox(id, () => waiter.poke());
    return waiter;
  }

  /** A Waiter poked on every events notice (the membership feed's watchers). */
  eventsWaiter(): Waiter {
    const sub = { off: (): void => undefined };
    const waiter = new Waiter(
      () => sub.off(),
      () => this.closed,
    );
    sub.off = this.onEvents(() => waiter.poke());
    return waiter;
  }

  /**
   * Like onEvents, for the replica's own followers of the feed (the membership view): they live as
   * long as the replica and are not waiters (not counted in waiterCount).
   */
  followEvents(fn: () => void): void {
    this.followers.add(fn);
  }

  get waiterCount(): number {
    let n = this.eventListeners.size;
    for (const s of this.inbox.values()) n += s.size;
    return n;
  }

  private publish(notice: WakeNotice): void {
    const raw = JSON.stringify(notice);
    const p = this.sharded ? (this.publisher as Cluster).spublish(this.channel, raw) : this.publisher.publish(this.channel, raw);
    // A lost notice only delays a waiter until its deadline; never fail the request for it.
    p.catch((err: unknown) => this.log.warn({ err }, 'wake notice not published'));
  }

  messages(to: string[], mid: string, cid: string | null, type: string): void {
    if (to.length > 0) this.publish({ k: 'm', to, mid, cid, t: type });
  }

  broadcast(except: string): void {
    this.publish({ k: 'b', except });
  }

  events(): void {
    this.publish({ k: 'e' });
  }
}
