// Leader-safety checker for churn and fault tests. It records every (leader, term) that any client
// saw in a response (register, heartbeat, listing, GET /registry/leader) and, when the server has
// it, every `leader` event of GET /registry/events, then checks:
//   1. one leader per term: no term was ever reported with two different leaders;
//   2. terms never decrease: a request sent after another one's response was received never
//      reports a lower term (the real-time order every client can observe; concurrent requests
//      may legitimately answer in either order, so they are not compared);
//   3. the events feed (Redis' own order) lists leader changes with strictly increasing terms.
//   4. across a loss of Redis' data (a test that wipes Redis calls newEpoch()): every term seen
//      after it is above every term seen before it (terms restart from Redis' clock, never from 1).
//      Observations in flight across the wipe are dropped as ambiguous.
import { MeshApiError, MeshClient } from '../../../sdk/src/index.js';
import { Api, sleep } from './http.js';

export interface LeaderObservation {
  source: string;
  leader: string | null;
  term: number;
  sentAt: number;
  receivedAt: number;
}

interface EpochWindow {
  from: number;
  to: number;
}

interface FeedEvent {
  id: string;
  type: string;
  instance_id: string;
  term: number | null;
}

export class LeaderSafety {
  private readonly observations: LeaderObservation[] = [];
  private readonly termOnly: LeaderObservation[] = [];
  private readonly windows: EpochWindow[] = [];
  /** Per epoch, leader events of the feed in feed order. */
  private readonly feed: { epoch: number; term: number; leader: string; id: string }[] = [];
  feedAvailable: boolean | null = null;

  /** (term, leader) reported without request timing (e.g. an SDK agent's leader-changed event): one leader per term only. */
  observeTerm(source: string, leader: string, term: number): void {
    const at = Date.now();
    this.termOnly.push({ source, leader, term, sentAt: at, receivedAt: at });
  }

  observe(source: string, leader: unknown, term: unknown, sentAt: number, receivedAt: number): void {
    if (typeof term !== 'number') return;
    this.observations.push({ source, leader: typeof leader === 'string' ? leader : null, term, sentAt, receivedAt });
  }

  /** Redis lost its data between `from` and `to` (ms): terms start over after it. */
  newEpoch(from: number, to: number): void {
    this.windows.push({ from, to });
  }

  get count(): number {
    return this.observations.length + this.termOnly.length;
  }

  private epochOf(o: { sentAt: number; receivedAt: number }): number | null {
    let epoch = 0;
    for (const w of this.windows) {
      if (o.receivedAt < w.from) return epoch;
      if (o.sentAt < w.to) return null; // overlaps the wipe: ambiguous
      epoch++;
    }
    return epoch;
  }

  /** term -> leader for every epoch (non-null leaders only). */
  leadersByTerm(): Map<number, Map<number, Set<string>>> {
    const out = new Map<number, Map<number, Set<string>>>();
    const add = (epoch: number, term: number, leader: string) => {
      let m = out.get(epoch);
      if (!m) out.set(epoch, (m = new Map<number, Set<string>>()));
      let s = m.get(term);
      if (!s) m.set(term, (s = new Set()));
      s.add(leader);
    };
    for (const o of [...this.observations, ...this.termOnly]) {
      const e = this.epochOf(o);
      if (e === null || o.leader === null) continue;
      add(e, o.term, o.leader);
    }
    for (const f of this.feed) add(f.epoch, f.term, f.leader);
    return out;
  }

  /** Every distinct (epoch, term, leader) seen, in term order. */
  history(): { epoch: number; term: number; leaders: string[] }[] {
    const out: { epoch: number; term: number; leaders: string[] }[] = [];
    for (const [epoch, terms] of [...this.leadersByTerm().entries()].sort(([a], [b]) => a - b)) {
      for (const [term, leaders] of [...terms.entries()].sort(([a], [b]) => a - b)) out.push({ epoch, term, leaders: [...leaders] });
    }
    return out;
  }

  violations(): string[] {
    const problems: string[] = [];
    // Across epochs: the lowest term of each epoch is above the highest of every earlier epoch.
    const terms = [...this.leadersByTerm().entries()].sort(([a], [b]) => a - b).map(([epoch, m]) => ({ epoch, ts: [...m.keys()] }));
    for (let i = 1; i < terms.length; i++) {
      const before = Math.max(...terms.slice(0, i).flatMap((t) => t.ts));
      const after = Math.min(...terms[i]!.ts);
      if (after <= before) problems.push(`epoch ${terms[i]!.epoch}: term ${after} is not above ${before}, seen before Redis lost its data`);
    }
    for (const h of this.history()) {
      if (h.leaders.length > 1) problems.push(`epoch ${h.epoch} term ${h.term} had ${h.leaders.length} leaders: ${h.leaders.join(', ')}`);
    }
    // Real-time order: for B sent after A was received, B.term >= A.term (same epoch).
    const byEpoch = new Map<number, LeaderObservation[]>();
    for (const o of this.observations) {
      const e = this.epochOf(o);
      if (e === null) continue;
      let list = byEpoch.get(e);
      if (!list) byEpoch.set(e, (list = []));
      list.push(o);
    }
    for (const [epoch, list] of byEpoch) {
      const byReceived = [...list].sort((a, b) => a.receivedAt - b.receivedAt);
      const prefixMax: LeaderObservation[] = [];
      for (const o of byReceived) {
        const prev = prefixMax[prefixMax.length - 1];
        prefixMax.push(prev && prev.term >= o.term ? prev : o);
      }
      for (const b of list) {
        // last index with receivedAt < b.sentAt
        let lo = 0;
        let hi = byReceived.length - 1;
        let idx = -1;
        while (lo <= hi) {
          const mid = (lo + hi) >> 1;
          if ((byReceived[mid] as LeaderObservation).receivedAt < b.sentAt) {
            idx = mid;
            lo = mid + 1;
          } else hi = mid - 1;
        }
        if (idx < 0) continue;
        const a = prefixMax[idx] as LeaderObservation;
        if (b.term < a.term) {
          problems.push(
            `epoch ${epoch}: term went back from ${a.term} (${a.source}, answered at ${a.receivedAt}) to ${b.term} (${b.source}, sent at ${b.sentAt})`,
          );
          if (problems.length > 20) return problems;
        }
      }
    }
    // The feed is in Redis order: leader terms strictly increase within an epoch.
    let last: { epoch: number; term: number } | null = null;
    for (const f of this.feed) {
      if (last && last.epoch === f.epoch && f.term <= last.term) {
        problems.push(`events feed: leader event ${f.id} has term ${f.term} after term ${last.term}`);
      }
      last = { epoch: f.epoch, term: f.term };
    }
    return problems;
  }

  /**
   * Polls GET /registry/leader (every `everyMs`) and follows GET /registry/events (when the route
   * exists) until `signal` aborts: as server-sent events through the SDK's MeshClient (resuming by
   * Last-Event-ID when a replica dies), or with `feed: 'json'` as JSON pages, which start over when
   * `epoch()` changes (Redis wiped: stream ids start over too).
   */
  async watch(api: Api, signal: AbortSignal, opts: { everyMs?: number; epoch?: () => number; feed?: 'sse' | 'json' } = {}): Promise<void> {
    const everyMs = opts.everyMs ?? 200;
    const poll = (async () => {
      while (!signal.aborted) {
        const o = await api.call<{ leader_id: string | null; leader_term: number }>('leader', 'GET', '/registry/leader', undefined, 5000);
        if (o.ok && o.body) this.observe('leader-poll', o.body.leader_id, o.body.leader_term, o.sentAt, o.receivedAt);
        await sleep(everyMs, signal);
      }
    })();
    const followSse = async () => {
      const client = new MeshClient({ url: api.baseUrl, retries: 0, retryBaseMs: 100, retryMaxMs: 1000 });
      try {
        for await (const e of client.events({ signal, lastEventId: '0', reconnect: true })) {
          this.feedAvailable = true;
          if (e.type === 'leader' && typeof e.term === 'number' && e.instance_id) {
            this.feed.push({ epoch: 0, term: e.term, leader: e.instance_id, id: e.id ?? '?' });
          }
        }
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof MeshApiError && err.status === 404) this.feedAvailable = false;
        else throw err;
      }
    };
    const follow =
      (opts.feed ?? 'sse') === 'sse'
        ? followSse()
        : (async () => {
            let since = '0';
            let epoch = opts.epoch?.() ?? 0;
            while (!signal.aborted) {
              const o = await api.call<{ events: FeedEvent[]; last_id: string }>(
                'events',
                'GET',
                `/registry/events?format=json&since=${encodeURIComponent(since)}&wait=1&limit=1000`,
                undefined,
                10_000,
              );
              if (o.status === 404 && o.body && (o.body as unknown as { code?: string }).code === 'not_found') {
                this.feedAvailable = false;
                return;
              }
              if (!o.ok || !o.body) {
                await sleep(200, signal);
                continue;
              }
              this.feedAvailable = true;
              const nowEpoch = opts.epoch?.() ?? 0;
              if (nowEpoch !== epoch) {
                // Redis was wiped: stream ids start over too.
                epoch = nowEpoch;
                since = '0';
                continue;
              }
              for (const e of o.body.events) {
                if (e.type === 'leader' && typeof e.term === 'number')
                  this.feed.push({ epoch, term: e.term, leader: e.instance_id, id: e.id });
              }
              since = o.body.last_id;
            }
          })();
    await Promise.all([poll, follow]);
  }

  get feedEvents(): number {
    return this.feed.length;
  }
}
