// Noticing that Redis lost the namespace's data (a restart without persistence, a FLUSHALL, a
// failover to a replica that had nothing). The namespace's epoch (`P epoch`, Redis time in ms of
// its first registration, created by register.lua) changes only then. Every heartbeat and register
// reply carries it, and a slow poll covers a replica that serves neither, so a replica notices
// within one heartbeat round: it logs it once at warn level and counts it (/metrics).
//
// What clients see after a loss is defined route by route (docs/reliability.md): heartbeats answer
// 404 (the SDK registers again), registering starts a new member, fetch/send as an unknown id
// answer 404, the events feed reports `gap: true` to a watcher resuming from before the loss, and
// the next leader's term starts above every term issued before (includes/base.lua nextTerm).
import type { Logger } from 'pino';
import type { RegistryContext } from './context.js';

/** How often a replica reads the epoch when no heartbeat or register reply brought it. */
const POLL_MS = 5000;

export class DataLossMonitor {
  /** Times this replica saw the epoch change or vanish. */
  detected = 0;
  private known: string | null = null;
  private lastSeen = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ctx: Pick<RegistryContext, 'keys' | 'scripts'>,
    private readonly log: Logger,
  ) {}

  /** The epoch a script reply carried (null: the namespace has none, e.g. Redis is empty). */
  observe(epoch: unknown): void {
    this.lastSeen = Date.now();
    const now = typeof epoch === 'string' || typeof epoch === 'number' ? String(epoch) : null;
    if (now === this.known) return;
    const before = this.known;
    this.known = now;
    // A namespace appearing (first registration ever, or the first one after a loss that was
    // already counted when the epoch vanished) is not a loss.
    if (before === null) return;
    this.detected++;
    this.log.warn(
      { namespace: this.ctx.keys.prefix, previousEpoch: before, epoch: now },
      now === null
        ? "Redis lost this namespace's data (its epoch is gone): members must register again; run Redis with persistence to avoid this"
        : "Redis lost this namespace's data (its epoch changed): members registered again since",
    );
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    if (Date.now() - this.lastSeen < POLL_MS) return;
    try {
      this.observe(await this.ctx.scripts.client.get(this.ctx.keys.epoch));
    } catch {
      // Redis unreachable: nothing to compare; readiness reports it.
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
