// A crew of agents built on the project's own SDK (MeshAgent from sdk/src), running next to the
// ledger agents in a fault test: they heartbeat, answer Queries and do request/response with each
// other through the load balancer, with the SDK's own retries and re-registration. Every HTTP
// attempt they make goes through a recording fetch into a CallLog, so the test can check that the
// SDK, too, only ever saw "in-flight" failures; their leader-changed events feed the leader-safety
// checker (one leader per term).
import { MeshAgent, MeshApiError, MeshClosedError, MeshNetworkError, MeshTimeoutError } from '../../../sdk/src/index.js';
import { CallLog, sleep, type Outcome } from './http.js';
import type { LeaderSafety } from './leader-safety.js';

/** A fetch that records every attempt (status 0 = no answer) under `sdk <METHOD> <route>`. */
export function recordingFetch(log: CallLog): typeof fetch {
  return async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const method = (init?.method ?? 'GET').toUpperCase();
    // /messages/send/a1 -> /messages/send, /registry/heartbeat/x -> /registry/heartbeat
    const route = url.pathname.split('/').slice(0, 3).join('/');
    const op = `sdk ${method} ${route}`;
    const sentAt = Date.now();
    try {
      const res = await fetch(input, init);
      // Streams (SSE) are recorded when their headers arrive; the body is left to the SDK.
      const o: Outcome = {
        ok: res.ok,
        status: res.status,
        body: null,
        retryAfter: res.headers.get('retry-after'),
        error: null,
        sentAt,
        receivedAt: Date.now(),
      };
      log.record(op, o);
      return res;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      // An abort by the SDK itself (agent closing, long-poll cancelled) is not a failure.
      if (e.name !== 'AbortError') {
        log.record(op, {
          ok: false,
          status: 0,
          body: null,
          retryAfter: null,
          error: `${e.name}: ${e.cause?.code ?? e.message}`,
          sentAt,
          receivedAt: Date.now(),
        });
      }
      throw err;
    }
  };
}

export interface SdkCrewStats {
  agents: number;
  requestsOk: number;
  requestErrors: Record<string, number>;
  reregistered: number;
  handlerErrors: number;
}

export class SdkCrew {
  readonly log = new CallLog((_op, status) => status === 404);
  readonly agents: MeshAgent[] = [];
  private readonly stopCtl = new AbortController();
  private loops: Promise<void>[] = [];
  readonly stats: SdkCrewStats = { agents: 0, requestsOk: 0, requestErrors: {}, reregistered: 0, handlerErrors: 0 };

  constructor(
    private readonly url: string,
    private readonly n: number,
    private readonly safety: LeaderSafety | null,
    private readonly heartbeatMs = 1000,
  ) {}

  async start(): Promise<void> {
    for (let i = 0; i < this.n; i++) {
      const agent = await MeshAgent.join({
        url: this.url,
        instanceId: `sdk${i}`,
        hostname: `sdk${i}.test`,
        port: 4000,
        heartbeatIntervalMs: this.heartbeatMs,
        pollWaitSeconds: 2,
        requestTimeoutMs: 8000,
        client: { fetch: recordingFetch(this.log), retries: 3, retryBaseMs: 100, retryMaxMs: 1000, timeoutMs: 10_000 },
      });
      agent.on('Query', async (m, ctx) => {
        await ctx.respond({ echo: m.payload ?? null });
      });
      agent.on('reregistered', () => this.stats.reregistered++);
      agent.on('error', (err) => {
        if (err.name === 'MeshHandlerError') this.stats.handlerErrors++;
      });
      agent.on('leader-changed', ({ leaderId, term }) => {
        if (leaderId !== null) this.safety?.observeTerm(agent.id, leaderId, term);
      });
      this.agents.push(agent);
    }
    this.stats.agents = this.agents.length;
  }

  /** Each agent asks a random other one, again and again, retrying whatever fails. */
  startTraffic(): void {
    const signal = this.stopCtl.signal;
    this.loops = this.agents.map(async (agent, i) => {
      let n = 0;
      while (!signal.aborted) {
        const other = this.agents[(i + 1 + Math.floor(Math.random() * (this.agents.length - 1))) % this.agents.length] as MeshAgent;
        try {
          const res = await agent.request(other.id, { n: ++n, from: agent.id });
          if ((res.payload as { echo?: { n?: number } } | null)?.echo?.n === n) this.stats.requestsOk++;
        } catch (err) {
          if (signal.aborted || err instanceof MeshClosedError) return;
          const kind =
            err instanceof MeshApiError
              ? `api ${err.status} ${err.code}`
              : err instanceof MeshNetworkError
                ? `network ${err.kind}`
                : err instanceof MeshTimeoutError
                  ? 'timeout'
                  : String(err);
          this.stats.requestErrors[kind] = (this.stats.requestErrors[kind] ?? 0) + 1;
          await sleep(100, signal);
        }
        await sleep(150, signal);
      }
    });
  }

  async stopTraffic(): Promise<void> {
    this.stopCtl.abort();
    await Promise.allSettled(this.loops);
  }

  async close(): Promise<void> {
    await this.stopTraffic();
    await Promise.allSettled(this.agents.map((a) => a.close()));
  }
}
