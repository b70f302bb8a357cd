// Keeps the store in step with the mesh, using only the public API:
//  - the listing (GET /registry/agents, paged) once at start and after a gap in the feed;
//  - the membership feed (GET /registry/events, SSE) for joins, leaves, leader changes and
//    updates, applied one agent at a time (a join or re-registration re-reads that agent);
//  - GET /registry/inspect for the rows on screen every few seconds (heartbeat age, status,
//    metrics, inbox depth), at most a page of ids per call;
//  - GET /registry/stats every 2 s for the totals and their charts.
// A reply about an agent is applied only if no event about that agent arrived after the request
// was sent, so a slow reply never resurrects an agent that has just left.
import { ApiError, type Api } from './api';
import { LiveFeed } from './feed';
import { compareIds, type MeshStore } from './store';
import type { AgentsPage, EventsPage, InspectAnswer, MeshEvent, Stats } from './types';

const LIST_PAGE = 1000;
const INSPECT_MAX = 200;
const STATS_EVERY_MS = 2000;
const VISIBLE_EVERY_MS = 2000;
/** Joins are re-read in batches: a burst of 1,000 joins is 5 requests, not 1,000. */
const REFRESH_DELAY_MS = 150;
/** The timeline starts with this much history (at most HISTORY_PAGES pages of events). */
const HISTORY_MS = 15 * 60_000;
const HISTORY_PAGES = 3;

export class MeshSync {
  private feed: LiveFeed | null = null;
  private timers: ReturnType<typeof setInterval>[] = [];
  private stopped = false;
  /** Events while the listing is being read are applied after it. */
  private buffered: MeshEvent[] | null = null;
  private eventSeq = 0;
  /** Per agent, the eventSeq of the last event about it (pruned when no read is in flight). */
  private touched = new Map<string, number>();
  private inFlight = 0;
  /** Bumps at each full reload: replies from before it are dropped. */
  private generation = 0;
  private toRefresh = new Set<string>();
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private visible: string[] = [];
  private lastStats: Stats | null = null;

  constructor(
    private readonly store: MeshStore,
    private readonly api: Api,
  ) {}

  start(): void {
    this.feed = new LiveFeed(this.api, {
      onReady: (cursor, gap, first) => {
        if (first || gap) void this.reload();
        if (first) void this.loadHistory(cursor);
      },
      onEvent: (e) => this.onEvent(e),
      onState: (state, detail) => {
        this.store.connection = state;
        this.store.connectionDetail = detail ?? null;
        this.store.changed();
      },
      onAuthError: (err) => this.authFailed(err),
    });
    this.feed.start();
    void this.pollStats();
    this.timers.push(setInterval(() => void this.pollStats(), STATS_EVERY_MS));
    this.timers.push(setInterval(() => void this.refreshVisible(), VISIBLE_EVERY_MS));
  }

  stop(): void {
    this.stopped = true;
    this.feed?.stop();
    for (const t of this.timers) clearInterval(t);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
  }

  /** The table tells which rows are on screen; they are refreshed now and then periodically. */
  setVisible(ids: string[]): void {
    const before = new Set(this.visible);
    this.visible = ids;
    if (ids.some((id) => !before.has(id))) void this.refreshVisible(ids.filter((id) => !before.has(id)));
  }

  // ---- failures ----

  private authFailed(err: ApiError): void {
    if (this.stopped) return;
    this.stop();
    this.store.auth = {
      state: this.api.token ? 'rejected' : 'needed',
      message: `${err.status} ${err.code}: ${err.message}`,
    };
    this.store.changed();
  }

  /** Auth failures stop everything; others are shown and retried by the caller's schedule. */
  private failed(err: unknown, what: string): void {
    if (err instanceof ApiError && err.status === 401) return this.authFailed(err);
    if (this.stopped) return;
    this.store.error = `${what}: ${err instanceof Error ? err.message : String(err)}`;
    this.store.changed();
  }

  // ---- listing ----

  private async reload(): Promise<void> {
    const generation = ++this.generation;
    this.buffered = [];
    this.store.loading = true;
    this.store.changed();
    try {
      const all = [];
      let cursor: string | null = null;
      let leader: { id: string | null; term: number } = { id: null, term: 0 };
      do {
        const q: string = `/registry/agents?limit=${LIST_PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page: AgentsPage = await this.api.get<AgentsPage>(q);
        if (generation !== this.generation || this.stopped) return;
        all.push(...page.instances);
        leader = { id: page.leader_id, term: page.leader_term };
        cursor = page.next_cursor;
      } while (cursor);
      this.store.replaceAll(all);
      this.store.observeLeader(leader.id, leader.term);
      const pending = this.buffered ?? [];
      this.buffered = null;
      for (const e of pending) this.apply(e);
      this.store.loading = false;
      this.store.error = null;
      this.store.changed();
      void this.refreshVisible();
    } catch (err) {
      if (generation !== this.generation) return;
      this.buffered = null;
      this.failed(err, 'reading the agents');
      // Try again: the table must not stay incomplete.
      if (!this.stopped) setTimeout(() => generation === this.generation && void this.reload(), 3000);
    }
  }

  /** The recent past for the timeline and the leader history (display only: state comes from the listing). */
  private async loadHistory(cursor: string): Promise<void> {
    const ms = Number(cursor.split('-')[0]);
    if (!ms) return;
    let since = String(Math.max(0, ms - HISTORY_MS));
    const events: MeshEvent[] = [];
    try {
      for (let i = 0; i < HISTORY_PAGES; i++) {
        const page = await this.api.get<EventsPage>(`/registry/events?format=json&limit=1000&since=${since}`);
        const upTo = page.events.filter((e) => compareIds(e.id, cursor) <= 0);
        events.push(...upTo);
        if (upTo.length < page.events.length || page.events.length === 0) break;
        since = page.last_id;
      }
    } catch (err) {
      return this.failed(err, 'reading recent events');
    }
    this.store.addToTimeline(events);
    for (const e of events) if (e.type === 'leader') this.store.leaderChanged(e);
  }

  // ---- events ----

  private onEvent(e: MeshEvent): void {
    this.store.addToTimeline([e]);
    if (this.buffered) this.buffered.push(e);
    else this.apply(e);
  }

  private apply(e: MeshEvent): void {
    this.touched.set(e.instance_id, ++this.eventSeq);
    switch (e.type) {
      case 'left':
        this.store.remove(e.instance_id);
        break;
      case 'leader':
        this.store.leaderChanged(e);
        break;
      case 'updated':
        if (e.what === 'status') this.store.setStatus(e.instance_id, e.status);
        this.queueRefresh(e.instance_id);
        break;
      default:
        // joined, and anything newer than this console: re-read the agent.
        this.queueRefresh(e.instance_id);
    }
  }

  private queueRefresh(id: string): void {
    this.toRefresh.add(id);
    if (!this.refreshTimer) this.refreshTimer = setTimeout(() => void this.flushRefresh(), REFRESH_DELAY_MS);
  }

  private async flushRefresh(): Promise<void> {
    this.refreshTimer = null;
    while (this.toRefresh.size > 0 && !this.stopped) {
      const ids = [...this.toRefresh].slice(0, INSPECT_MAX);
      for (const id of ids) this.toRefresh.delete(id);
      await this.inspect(ids, true);
    }
  }

  // ---- rows on screen ----

  private async refreshVisible(ids = this.visible): Promise<void> {
    if (this.store.loading || ids.length === 0 || this.stopped) return;
    for (let i = 0; i < ids.length; i += INSPECT_MAX) await this.inspect(ids.slice(i, i + INSPECT_MAX), false);
  }

  /**
   * Re-reads agents. `insert`: add the live ones that are not in the table (joins); otherwise only
   * rows already shown are updated. Ids that are not live any more are removed.
   */
  private async inspect(ids: string[], insert: boolean): Promise<void> {
    const sentAt = this.eventSeq;
    const generation = this.generation;
    this.inFlight++;
    try {
      const r = await this.api.get<InspectAnswer>(`/registry/inspect?ids=${ids.map(encodeURIComponent).join(',')}`);
      if (generation !== this.generation || this.stopped) return;
      const fresh = (id: string) => (this.touched.get(id) ?? 0) <= sentAt;
      for (const inst of r.instances) {
        if (!fresh(inst.instance_id)) continue;
        if (insert || this.store.agents.has(inst.instance_id)) this.store.upsert(inst);
      }
      for (const id of r.missing) if (fresh(id)) this.store.remove(id);
    } catch (err) {
      this.failed(err, 'refreshing agents');
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) this.touched.clear();
    }
  }

  // ---- totals ----

  private async pollStats(): Promise<void> {
    if (this.stopped) return;
    try {
      const s = await this.api.get<Stats>('/registry/stats');
      if (this.stopped) return;
      this.store.addStats(s, this.lastStats);
      this.lastStats = s;
      // The API answers again: whatever failed before is retried on its own schedule.
      this.store.error = null;
    } catch (err) {
      this.failed(err, 'reading the totals');
    }
  }
}
