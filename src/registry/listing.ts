// Listings of live instances, read a bounded page per script call (list.lua): no call's cost depends
// on the size of the mesh; a longer listing is more calls.
import type { InstanceRow } from '../redis/scripts/decode.js';
import { list as listScript, type ListMode, type ListReply } from '../redis/scripts/list.js';
import type { RegistryContext } from './context.js';
import { rowsJson, toInstance } from './instance-json.js';
import type { LeaderInfo, MeshInstance } from './types.js';

/** Rows per listing script call, and index entries it may examine (lapsed ones are skipped). */
export const LIST_PAGE_ROWS = 50;
export const LIST_PAGE_BUDGET = 200;

export interface ListOptions {
  capability?: string;
  /** A2A skill id or tag (members whose Agent Card has it). */
  skill?: string;
  after?: string;
  limit?: number;
}

export interface ListResult extends LeaderInfo {
  instances: MeshInstance[];
  next_cursor: string | null;
}

/** A listing as JSON text, for answers that only pass it on (see listJson). */
export interface ListJsonResult extends LeaderInfo {
  /** JSON array of MeshInstance, in join order. */
  instances_json: string;
  count: number;
  next_cursor: string | null;
}

export interface RawListing extends LeaderInfo {
  rows: InstanceRow[];
  next_cursor: string | null;
}

export class InstanceListing {
  constructor(
    private readonly ctx: Pick<RegistryContext, 'config' | 'keys' | 'scripts' | 'wake'>,
    /** Told when a listing call elected a new leader. */
    private readonly onLeaderChange: () => void,
  ) {}

  async list(opts: ListOptions = {}): Promise<ListResult> {
    const { rows, ...rest } = await this.rows(opts);
    return { ...rest, instances: rows.map((r) => toInstance(r, rest.leader_id)) };
  }

  /** list() as JSON text: for HTTP answers, about half the CPU for large listings (instance-json.ts). */
  async listJson(opts: ListOptions = {}): Promise<ListJsonResult> {
    const { rows, ...rest } = await this.rows(opts);
    return { ...rest, count: rows.length, instances_json: rowsJson(rows, rest.leader_id) };
  }

  /**
   * Live instances in join order, from `after`, up to `limit` (none: all), a bounded page per
   * script call. The pages are not one snapshot (members may come and go between them);
   * `is_leader` comes from the last page's leader for every row, so the answer never shows two
   * leaders.
   */
  async rows(opts: ListOptions): Promise<RawListing> {
    const mode: ListMode = opts.capability !== undefined ? 'cap' : opts.skill !== undefined ? 'skill' : 'all';
    const want = opts.limit ?? Number.POSITIVE_INFINITY;
    const rows: InstanceRow[] = [];
    let cursor: string | null = opts.after ?? '0';
    let last: ListReply | null = null;
    while (cursor !== null && rows.length < want) {
      last = await this.page(mode, opts.capability ?? opts.skill ?? '', cursor, Math.min(LIST_PAGE_ROWS, want - rows.length));
      for (const r of last.rows) rows.push(r);
      cursor = last.nextCursor;
    }
    return { leader_id: last!.leaderId, leader_term: last!.term, next_cursor: cursor, rows };
  }

  async get(id: string): Promise<MeshInstance | null> {
    const res = await this.page('one', id, '0', 1);
    const row = res.rows[0];
    return row ? toInstance(row, res.leaderId) : null;
  }

  async leader(): Promise<LeaderInfo> {
    // A page limited to one row still runs the election check; its leader is what we want.
    const res = await this.page('all', '', '0', 1);
    return { leader_id: res.leaderId, leader_term: res.term };
  }

  private async page(mode: ListMode, arg: string, after: string, limit: number): Promise<ListReply> {
    const { keys, config } = this.ctx;
    const reply = await listScript(this.ctx.scripts, keys, {
      mode,
      arg,
      after,
      limit,
      budget: LIST_PAGE_BUDGET,
      eventsMaxlen: config.EVENTS_MAXLEN,
    });
    if (reply.leaderChanged) {
      this.onLeaderChange();
      this.ctx.wake.events();
    }
    return reply;
  }
}
