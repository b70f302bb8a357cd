// The membership feed: the Lua scripts XADD joined / left / leader / updated entries to the capped
// stream `mesh:{ns}:events` in the same step as the change itself, so the feed can never disagree
// with the registry. Readers page through it by stream id (exclusive), which is what makes a
// watcher resumable: the id of the last event it saw is all it needs to carry.
// Waiting for new entries uses the WakeBus (one pub/sub subscription per replica), never a
// blocking XREAD connection per watcher.
import type { RegistryContext } from './context.js';
import { isoFromMs } from './iso-time.js';
import { compareStreamIds, MAX_STREAM_ID } from './stream-ids.js';

export const EVENT_TYPES = ['joined', 'left', 'leader', 'updated'] as const;
export type MeshEventType = (typeof EVENT_TYPES)[number];

export interface MeshEvent {
  /** Stream entry id (`<ms>-<seq>`): the SSE event id and the resume cursor. */
  id: string;
  /** One of EVENT_TYPES; a watcher should skip types it does not know (more may come). */
  type: string;
  instance_id: string;
  /** left: deregistered | expired */
  reason: string | null;
  /** leader: the new term */
  term: number | null;
  /** updated: registration | status */
  what: string | null;
  /** updated (what=status): the new status */
  status: string | null;
  /** joined, updated (what=registration): whether the registration carried an A2A Agent Card */
  agent_card: boolean | null;
  /** When Redis recorded it (from the entry id), RFC 3339 UTC. */
  at: string;
}

export interface ResumeInfo {
  /**
   * True when entries after the cursor have been trimmed from the capped stream (EVENTS_MAXLEN):
   * the watcher missed some changes and should re-read /registry/agents.
   */
  gap: boolean;
}

type Entry = [string, string[]];

function decode([id, flat]: Entry): MeshEvent {
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) f.set(flat[i]!, flat[i + 1]!);
  const term = f.get('term');
  return {
    id,
    type: f.get('type') ?? 'unknown',
    instance_id: f.get('instance_id') ?? '',
    reason: f.get('reason') ?? null,
    term: term === undefined ? null : Number(term),
    what: f.get('what') ?? null,
    status: f.get('status') ?? null,
    agent_card: f.has('card') ? f.get('card') === '1' : null,
    at: isoFromMs(id.split('-')[0]!),
  };
}

export class EventFeed {
  constructor(private readonly ctx: Pick<RegistryContext, 'keys' | 'scripts'>) {}

  private get redis() {
    return this.ctx.scripts.client;
  }

  /** Up to `count` events strictly after `afterId`, oldest first. */
  async read(afterId: string, count: number): Promise<MeshEvent[]> {
    // Nothing can follow the largest id (and Redis refuses an exclusive range starting there).
    if (afterId === MAX_STREAM_ID) return [];
    const entries = (await this.redis.xrange(this.ctx.keys.events, `(${afterId}`, '+', 'COUNT', count)) as Entry[];
    return entries.map(decode);
  }

  /** The id of the newest event, or `0-0` when the feed is empty: "start from now". */
  async lastId(): Promise<string> {
    const last = (await this.redis.xrevrange(this.ctx.keys.events, '+', '-', 'COUNT', 1)) as Entry[];
    return last[0]?.[0] ?? '0-0';
  }

  /**
   * Whether resuming after `afterId` skips events the capped stream has already trimmed (MAXLEN
   * trims from the head): true when the cursor is older than the oldest retained entry and
   * entries have been dropped. It can report a gap that is not one, when the cursor was exactly
   * the last entry trimmed; a watcher then re-reads /registry/agents once, which is harmless.
   */
  async resumeInfo(afterId: string): Promise<ResumeInfo> {
    if (compareStreamIds(afterId, '0-0') === 0) return { gap: false };
    // A cursor from before the namespace's epoch was handed out in a previous lifetime of its
    // data: Redis lost everything after it (data-loss.ts).
    const epoch = await this.redis.get(this.ctx.keys.epoch);
    if (epoch !== null && compareStreamIds(afterId, epoch) < 0) return { gap: true };
    let flat: unknown[];
    try {
      flat = (await this.redis.xinfo('STREAM', this.ctx.keys.events)) as unknown[];
    } catch (err) {
      // No stream, yet the watcher holds the id of an event it saw: the events are gone with the
      // rest of the data (nothing is ever recorded without the stream).
      if (err instanceof Error && /no such key/i.test(err.message)) return { gap: true };
      throw err;
    }
    const info = new Map<string, unknown>();
    for (let i = 0; i + 1 < flat.length; i += 2) info.set(String(flat[i]), flat[i + 1]);
    const length = Number(info.get('length') ?? 0);
    // More entries were ever added than the stream holds: MAXLEN trimmed some.
    if (!(Number(info.get('entries-added')) > length)) return { gap: false };
    const first = info.get('first-entry');
    const firstId = Array.isArray(first) && typeof first[0] === 'string' ? first[0] : null;
    if (firstId === null) {
      const last = info.get('last-generated-id');
      return { gap: typeof last === 'string' && compareStreamIds(afterId, last) < 0 };
    }
    return { gap: compareStreamIds(afterId, firstId) < 0 };
  }
}
