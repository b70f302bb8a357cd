// Mesh-wide counters kept IN REDIS, so a reader gets the same figures from every replica (the
// /metrics counters are each replica's share). The console samples them to draw messages sent and
// acknowledged per second and cleanup runs.
//   sent          P msgseq: every queued message takes one number (send.lua), a broadcast counts once
//   acked         P counters.acked: copies acknowledged (ack.lua)
//   cleanup_runs  P counters.cleanup_runs: maintenance ticks, whichever replica ran them
import type { RegistryContext } from './context.js';

export interface CounterSample {
  /** Redis TIME in ms when the counters were read: rates divide by differences of it. */
  now: number;
  sent: number;
  acked: number;
  cleanupRuns: number;
}

export class MeshCounters {
  constructor(private readonly ctx: Pick<RegistryContext, 'keys' | 'scripts'>) {}

  async read(): Promise<CounterSample> {
    const { keys } = this.ctx;
    const [now, sent, acked, cleanupRuns] = (await this.ctx.scripts.run('counters', [keys.msgseq, keys.counters], [])) as number[];
    return { now: Number(now), sent: Number(sent), acked: Number(acked), cleanupRuns: Number(cleanupRuns) };
  }

  /** One maintenance tick ran (one key: a plain HINCRBY, no script needed). */
  async countCleanupRun(): Promise<void> {
    await this.ctx.scripts.client.hincrby(this.ctx.keys.counters, 'cleanup_runs', 1);
  }
}
