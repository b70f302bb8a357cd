// A replica-local view of who is a member (id -> join sequence), kept current from the events feed
// the scripts write in the same step as each change. It answers one question without making Redis
// list every member: who received a broadcast. send.lua stores a broadcast in O(1) and returns the
// join sequence at that moment, the feed position, and the members lapsed at that moment; the
// recipients are the members at that feed position that joined by then, minus those and the sender.
//
// It is a cache a replica can rebuild at any time from Redis (paged reads of the join index, then
// the feed from a position taken before the first page), so replicas stay stateless. Reads of
// Redis are pages of bounded size; the view follows the feed on every membership notice.
import type { Logger } from 'pino';
import type { RegistryContext } from './context.js';
import { compareStreamIds } from './stream-ids.js';

/** Entries read per call while building or following. */
const PAGE = 1000;
/** Members looked at between two yields to the event loop (recipientsAt). */
const YIELD_EVERY = 20_000;
/** `left` events kept to answer for a feed position the view has already moved past. */
const RECENT_LEFT_MAX = 20_000;

type Entry = [string, string[]];

function field(flat: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i] === name) return flat[i + 1];
  return undefined;
}

export interface BroadcastMoment {
  /** Members with a join sequence up to this had joined when the broadcast was stored. */
  joinSeq: number;
  /** The feed position when it was stored. */
  eventsId: string;
  sender: string;
  /** Members lapsed (deadline passed) at that moment. */
  lapsed: string[];
}

export class MembershipView {
  private members = new Map<string, number>();
  private position = '0-0';
  private built = false;
  /** `left` events applied, oldest first: who left after a given position (see recipientsAt). */
  private recentLeft: { eventId: string; id: string; seq: number }[] = [];
  /** One reader at a time: every build/follow step chains on this. */
  private chain: Promise<unknown> = Promise.resolve();
  private following = false;
  private followAgain = false;
  /** Rebuilds because the capped feed dropped events before the view read them. */
  rebuilds = 0;

  constructor(
    private readonly ctx: Pick<RegistryContext, 'keys' | 'scripts' | 'wake'>,
    private readonly log: Logger,
  ) {}

  private get redis() {
    return this.ctx.scripts.client;
  }

  /** Starts following the feed on membership notices (after the first use builds the view). */
  start(): void {
    this.ctx.wake.followEvents(() => {
      if (this.built) this.follow();
    });
  }

  private follow(): void {
    if (this.following) {
      this.followAgain = true;
      return;
    }
    this.following = true;
    void this.locked(() => this.catchUp(null))
      .catch((err: unknown) => this.log.warn({ err }, 'membership view: following the feed failed'))
      .finally(() => {
        this.following = false;
        if (this.followAgain) {
          this.followAgain = false;
          this.follow();
        }
      });
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Builds the view if it has never been built (before the first broadcast is stored). */
  ensureBuilt(): Promise<void> {
    if (this.built) return Promise.resolve();
    return this.locked(async () => {
      if (!this.built) await this.build();
    });
  }

  private async build(): Promise<void> {
    const { keys } = this.ctx;
    const last = (await this.redis.xrevrange(keys.events, '+', '-', 'COUNT', 1)) as Entry[];
    const from = last[0]?.[0] ?? '0-0';
    const members = new Map<string, number>();
    let after = '0';
    for (;;) {
      const page = await this.redis.zrange(keys.joined, `(${after}`, '+inf', 'BYSCORE', 'LIMIT', 0, PAGE, 'WITHSCORES');
      for (let i = 0; i + 1 < page.length; i += 2) members.set(page[i]!, Number(page[i + 1]));
      if (page.length < PAGE * 2) break;
      after = page[page.length - 1]!;
    }
    this.members = members;
    this.recentLeft = [];
    this.position = from;
    this.built = true;
    // Changes made while the pages were read are in the feed after `from`: replaying them in order
    // converges on the state at the end of the feed.
    await this.catchUp(null);
  }

  /** Applies the feed after the current position up to `until` (null: its end). */
  private async catchUp(until: string | null): Promise<void> {
    const { keys } = this.ctx;
    if (await this.missedEvents()) {
      this.rebuilds++;
      this.log.warn({ position: this.position }, 'membership view fell behind the capped events feed: rebuilding');
      await this.build();
      return;
    }
    for (;;) {
      if (until !== null && compareStreamIds(this.position, until) >= 0) return;
      const entries = (await this.redis.xrange(keys.events, `(${this.position}`, until ?? '+', 'COUNT', PAGE)) as Entry[];
      for (const e of entries) this.apply(e);
      if (entries.length < PAGE) return;
    }
  }

  /** Whether the capped feed trimmed events after the view's position before it read them. */
  private async missedEvents(): Promise<boolean> {
    if (this.position === '0-0') return false;
    const first = (await this.redis.xrange(this.ctx.keys.events, '-', '+', 'COUNT', 1)) as Entry[];
    const firstId = first[0]?.[0];
    // The feed restarted below our position (Redis lost its data) or moved past it.
    if (firstId === undefined) return false;
    return compareStreamIds(firstId, this.position) > 0 && !(await this.hasEntry(this.position));
  }

  private async hasEntry(id: string): Promise<boolean> {
    const e = (await this.redis.xrange(this.ctx.keys.events, id, id)) as Entry[];
    return e.length > 0;
  }

  private apply([eventId, flat]: Entry): void {
    this.position = eventId;
    const type = field(flat, 'type');
    const id = field(flat, 'instance_id');
    if (!id) return;
    if (type === 'joined') {
      const seq = Number(field(flat, 'seq') ?? NaN);
      if (Number.isFinite(seq)) this.members.set(id, seq);
    } else if (type === 'left') {
      const seq = Number(field(flat, 'seq') ?? this.members.get(id) ?? 0);
      // A left event for an older incarnation must not remove a newer one.
      if (this.members.get(id) === seq) this.members.delete(id);
      this.recentLeft.push({ eventId, id, seq });
      if (this.recentLeft.length > RECENT_LEFT_MAX) this.recentLeft.splice(0, this.recentLeft.length - RECENT_LEFT_MAX);
    }
  }

  /**
   * The members a broadcast stored at `m` went to: joined by then, not lapsed then, not the sender.
   * The view is brought to at least that feed position; members that left since (still in the
   * recent `left` events) are counted as they were then.
   */
  recipientsAt(m: BroadcastMoment): Promise<string[]> {
    return this.locked(async () => {
      if (!this.built) await this.build();
      if (compareStreamIds(this.position, m.eventsId) < 0) await this.catchUp(m.eventsId);
      const excluded = new Set(m.lapsed);
      excluded.add(m.sender);
      const counted = (id: string, seq: number | undefined) => seq !== undefined && seq <= m.joinSeq && !excluded.has(id);
      const out: string[] = [];
      let n = 0;
      for (const [id, seq] of this.members) {
        if (counted(id, seq)) out.push(id);
        // Give the event loop back now and then: at 100k members this loop is several ms, and the
        // replica's other requests should not wait for all of it (the lock keeps the view still).
        if (++n % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
      }
      const added = new Set<string>();
      for (const l of this.recentLeft) {
        // Left since the broadcast, so a recipient then, unless already counted above.
        if (
          compareStreamIds(l.eventId, m.eventsId) > 0 &&
          counted(l.id, l.seq) &&
          !counted(l.id, this.members.get(l.id)) &&
          !added.has(l.id)
        ) {
          out.push(l.id);
          added.add(l.id);
        }
      }
      return out;
    });
  }

  get size(): number {
    return this.members.size;
  }
}
