// Everything the console shows, in one observable object. Changes are applied incrementally (one
// agent at a time, from events and refreshes) and listeners are told at most once per animation
// frame, so a burst of events costs one render, and a render only touches the rows on screen.
import type { Agent, MeshEvent, MeshInstance, Stats } from './types';

export interface LeaderChange {
  id: string;
  term: number;
  at: string;
}

/** One /registry/stats reading, with rates against the previous one. */
export interface Sample {
  /** Redis time (ms). */
  t: number;
  live: number;
  inboxTotal: number;
  sentPerSec: number | null;
  ackedPerSec: number | null;
  cleanupRuns: number;
}

export type Connection = 'connecting' | 'live' | 'reconnecting' | 'stopped';

export interface AuthState {
  /** ok: reading works; needed: a token is required; rejected: the token was refused. */
  state: 'ok' | 'needed' | 'rejected';
  message: string | null;
}

const TIMELINE_MAX = 300;
const LEADER_HISTORY_MAX = 20;
/** Ten minutes of readings at the 2 s poll interval. */
const SAMPLES_MAX = 300;

/** Stream ids `<ms>-<seq>` ordered as numbers (a bare `<ms>` is `<ms>-0`). */
export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  return Number(am) - Number(bm) || Number(as) - Number(bs);
}

export class MeshStore {
  /** Live agents in join order (a Map keeps insertion order; updates keep their place). */
  readonly agents = new Map<string, Agent>();
  /** Bumps whenever the set of agents or their order changes (filters are recomputed on it). */
  membershipVersion = 0;
  /** How many live agents hold each capability (the filter's choices), kept incrementally. */
  readonly capabilityCounts = new Map<string, number>();
  leader: { id: string | null; term: number } = { id: null, term: 0 };
  leaderHistory: LeaderChange[] = [];
  /** Newest first. */
  timeline: MeshEvent[] = [];
  samples: Sample[] = [];
  stats: Stats | null = null;
  /** Redis time minus this browser's clock (ms), from the last stats reading. */
  clockOffsetMs = 0;
  connection: Connection = 'connecting';
  connectionDetail: string | null = null;
  /** The listing is being (re)read: the table may be incomplete. */
  loading = true;
  auth: AuthState = { state: 'ok', message: null };
  error: string | null = null;

  private listeners = new Set<() => void>();
  private scheduled = false;

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Coalesces every change of this frame into one notification. */
  changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      for (const fn of this.listeners) fn();
    };
    // A hidden tab gets no animation frames: fall back to a timer so state still settles.
    if (typeof document !== 'undefined' && document.visibilityState === 'visible') requestAnimationFrame(run);
    else setTimeout(run, 100);
  }

  serverNow(): number {
    return Date.now() + this.clockOffsetMs;
  }

  // ---- agents ----

  replaceAll(instances: MeshInstance[]): void {
    const previous = this.agents;
    const next = new Map<string, Agent>();
    for (const inst of instances) next.set(inst.instance_id, { ...inst, pending: previous.get(inst.instance_id)?.pending ?? null });
    this.agents.clear();
    this.capabilityCounts.clear();
    for (const [id, a] of next) {
      this.agents.set(id, a);
      this.countCaps(a.capabilities, 1);
    }
    this.membershipVersion++;
    this.changed();
  }

  /** Inserts or updates an agent from a fresh record (pending: keep the known depth when absent). */
  upsert(inst: MeshInstance & { pending?: number; skills?: string[] }): void {
    const old = this.agents.get(inst.instance_id);
    // Listings carry neither depth nor skills (inspect does): keep what the last inspect said.
    const agent: Agent = { ...inst, pending: inst.pending ?? old?.pending ?? null, skills: inst.skills ?? old?.skills };
    if (old) {
      this.countCaps(old.capabilities, -1);
    } else {
      this.membershipVersion++;
    }
    this.countCaps(agent.capabilities, 1);
    if (old && old.capabilities.join('\n') !== agent.capabilities.join('\n')) this.membershipVersion++;
    this.agents.set(agent.instance_id, agent);
    this.changed();
  }

  remove(id: string): void {
    const old = this.agents.get(id);
    if (!old) return;
    this.countCaps(old.capabilities, -1);
    this.agents.delete(id);
    this.membershipVersion++;
    this.changed();
  }

  setStatus(id: string, status: string | null): void {
    const a = this.agents.get(id);
    if (!a) return;
    this.agents.set(id, { ...a, status });
    this.changed();
  }

  private countCaps(caps: string[], delta: number): void {
    for (const c of caps) {
      const n = (this.capabilityCounts.get(c) ?? 0) + delta;
      if (n > 0) this.capabilityCounts.set(c, n);
      else this.capabilityCounts.delete(c);
    }
  }

  // ---- leader, timeline ----

  /** A leader seen in a listing or a stats reading: only moves forward in term. */
  observeLeader(id: string | null, term: number): void {
    if (term < this.leader.term || (term === this.leader.term && id === this.leader.id)) return;
    this.leader = { id, term };
    this.changed();
  }

  /** A `leader` event from the feed (live or history). */
  leaderChanged(e: MeshEvent): void {
    const term = e.term ?? this.leader.term;
    if (!this.leaderHistory.some((h) => h.term === term)) {
      this.leaderHistory = [{ id: e.instance_id, term, at: e.at }, ...this.leaderHistory]
        .sort((a, b) => b.term - a.term)
        .slice(0, LEADER_HISTORY_MAX);
    }
    this.observeLeader(e.instance_id, term);
    this.changed();
  }

  /** Adds events to the timeline (any order, duplicates ignored); newest first, capped. */
  addToTimeline(events: MeshEvent[]): void {
    if (events.length === 0) return;
    const seen = new Set(this.timeline.map((e) => e.id));
    const fresh = events.filter((e) => !seen.has(e.id));
    const newest = this.timeline[0];
    if (newest && fresh.every((e) => compareIds(e.id, newest.id) > 0)) {
      this.timeline = [...fresh.reverse(), ...this.timeline].slice(0, TIMELINE_MAX);
    } else {
      this.timeline = [...fresh, ...this.timeline].sort((a, b) => compareIds(b.id, a.id)).slice(0, TIMELINE_MAX);
    }
    this.changed();
  }

  // ---- totals ----

  addStats(s: Stats, prev: Stats | null): void {
    const t = Date.parse(s.now);
    this.clockOffsetMs = t - Date.now();
    this.stats = s;
    const dt = prev ? (t - Date.parse(prev.now)) / 1000 : 0;
    const rate = (a: number, b: number) => (prev && dt > 0 ? Math.max(0, (a - b) / dt) : null);
    this.samples = [
      ...this.samples,
      {
        t,
        live: s.live,
        inboxTotal: s.inbox_total,
        sentPerSec: rate(s.messages_sent, prev?.messages_sent ?? 0),
        ackedPerSec: rate(s.messages_acked, prev?.messages_acked ?? 0),
        cleanupRuns: s.cleanup_runs,
      },
    ].slice(-SAMPLES_MAX);
    this.observeLeader(s.leader_id, s.leader_term);
    this.changed();
  }
}
