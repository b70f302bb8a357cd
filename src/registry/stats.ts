// Registry-wide figures read FROM REDIS (the `stats` script), so that every replica's /metrics
// reports the same truth whichever replica Prometheus happens to scrape. Process-local counters
// live on the services (InstanceService.counters, MessageService.counters, Maintenance.stats).
import { stats, type MeshSnapshot } from '../redis/scripts/stats.js';
import type { RegistryContext } from './context.js';

export type { MeshSnapshot } from '../redis/scripts/stats.js';

/** Inboxes looked at per snapshot (one O(1) XLEN each): bounds the cost of a scrape. */
export const STATS_MAX_INBOXES = 1000;

export class RegistryStats {
  constructor(
    private readonly ctx: Pick<RegistryContext, 'keys' | 'scripts'>,
    private readonly maxInboxes = STATS_MAX_INBOXES,
  ) {}

  snapshot(): Promise<MeshSnapshot> {
    return stats(this.ctx.scripts, this.ctx.keys, this.maxInboxes);
  }
}
