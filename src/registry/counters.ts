// Mesh-wide counters kept IN REDIS, so a reader gets the same figures from every replica (the
// /metrics counters are each replica's share). The console samples them to draw messages sent and
// acknowledged per second and cleanup runs.
//   sent          P msgseq: every queued message takes one number (send.lua), a broadcast counts once
//   acked         P counters.acked: copies acknowledged (ack.lua)
//   cleanup_runs  P counters.cleanup_runs: maintenance ticks, whichever replica ran them
import { readCounters, type CounterSample } from '../redis/scripts/counters.js';
import type { RegistryContext } from './context.js';

export type { CounterSample } from '../redis/scripts/counters.js';

export class MeshCounters {
  constructor(private readonly ctx: Pick<RegistryContext, 'keys' | 'scripts'>) {}

  read(): Promise<CounterSample> {
    return readCounters(this.ctx.scripts, this.ctx.keys);
  }

  /** One maintenance tick ran (one key: a plain HINCRBY, no script needed). */
  async countCleanupRun(): Promise<void> {
    await this.ctx.scripts.client.hincrby(this.ctx.keys.counters, 'cleanup_runs', 1);
  }
}
