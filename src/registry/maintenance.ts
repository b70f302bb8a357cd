// Periodic maintenance as a BullMQ job scheduler: one repeatable job per CLEANUP_INTERVAL_MS for
// the whole namespace, and BullMQ's job locks make sure exactly one replica runs each tick. Every
// replica runs a worker, so the tick still happens when replicas die.
import { Queue, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { RedisClient } from '../redis/client.js';
import { isRedisOutOfMemory } from '../redis/failures.js';
import type { InstanceService } from './instances.js';
import type { MessageService } from './messages.js';
import type { MeshCounters } from './counters.js';

export const MAINTENANCE_QUEUE = 'maintenance';
const SCHEDULER_ID = 'sweep';
/**
 * Bound on the work of one tick, so a huge backlog cannot hold the job lock for long: 250 calls of
 * CLEANUP_BATCH_SIZE (100) is 25,000 members a tick, each call short (docs/DESIGN.md).
 */
const MAX_BATCHES_PER_TICK = 250;
/**
 * A replica whose clock is further than this from Redis' TIME takes no part in maintenance: BullMQ
 * schedules and promotes the repeatable job with the replica's own clock (Date.now()), unlike every
 * registry script (Redis TIME). Measured with libfaketime (test/faults/clock-skew.test.ts): a
 * replica a year ahead scheduled every tick a year ahead, so only it ran them and they would stop
 * with it; one a day behind never saw a tick due. Skews below this only shift a tick by as much.
 */
export const MAX_CLOCK_SKEW_MS = 5000;
/** How soon a scheduler upsert refused by a full Redis is tried again. */
const SCHEDULER_RETRY_MS = 5000;
/** How long the worker rests after Redis refused one of its scripts as full. */
const FULL_PAUSE_MS = 2000;

/** This process' clock minus Redis' TIME, in ms (round trip halved). */
export async function clockSkewMs(connection: RedisClient): Promise<number> {
  const before = Date.now();
  const [s, us] = await connection.time();
  const after = Date.now();
  return Math.round((before + after) / 2 - (Number(s) * 1000 + Number(us) / 1000));
}

export interface SweepResult {
  removed: number;
  expiredMessages: number;
  trimmedBroadcasts: number;
  durationMs: number;
}

export interface MaintenanceStats {
  runs: number;
  /** Times this replica found the job scheduler missing from Redis and recreated it. */
  repairs: number;
  removed: number;
  lastRun: SweepResult | null;
}

/** One tick: expire lapsed members in bounded batches, then expire/trim messages. */
export async function sweep(instances: InstanceService, messages: MessageService, batch: number): Promise<SweepResult> {
  const started = performance.now();
  let removed = 0;
  for (let i = 0; i < MAX_BATCHES_PER_TICK; i++) {
    const r = await instances.cleanupBatch(batch);
    removed += r.removed.length;
    if (!r.more) break;
  }
  let expiredMessages = 0;
  let trimmedBroadcasts = 0;
  for (let i = 0; i < MAX_BATCHES_PER_TICK; i++) {
    const r = await messages.expireBatch(batch);
    expiredMessages += r.expired;
    trimmedBroadcasts += r.trimmed;
    if (!r.more) break;
  }
  return { removed, expiredMessages, trimmedBroadcasts, durationMs: performance.now() - started };
}

export class Maintenance {
  readonly stats: MaintenanceStats = { runs: 0, repairs: 0, removed: 0, lastRun: null };
  private queue: Queue | null = null;
  private worker: Worker | null = null;
  private repairTimer: NodeJS.Timeout | null = null;
  /** Ids of the jobs this replica ran (tests use it to prove each tick runs once). */
  readonly ranJobIds: string[] = [];
  /** This replica's clock minus Redis' TIME at start (ms). */
  clockSkewMs: number | null = null;
  /** Why this replica stays out of maintenance (null: it takes part). */
  disabledReason: string | null = null;
  private schedulerRetry: NodeJS.Timeout | null = null;
  private fullPause: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly deps: {
      config: Config;
      connection: RedisClient;
      prefix: string;
      instances: InstanceService;
      messages: MessageService;
      log: Logger;
      /** Mesh-wide tick count in Redis (the console's cleanup runs); optional for embedders. */
      counters?: MeshCounters;
    },
  ) {}

  async start(): Promise<void> {
    const { config, connection, prefix, log } = this.deps;
    this.clockSkewMs = await clockSkewMs(connection);
    if (Math.abs(this.clockSkewMs) > MAX_CLOCK_SKEW_MS) {
      this.disabledReason = `clock differs from Redis TIME by ${this.clockSkewMs} ms (limit ${MAX_CLOCK_SKEW_MS})`;
      log.error(
        { clockSkewMs: this.clockSkewMs },
        `${this.disabledReason}: this replica takes no part in maintenance (BullMQ schedules by the local clock); fix its time sync`,
      );
      return;
    }
    this.queue = new Queue(MAINTENANCE_QUEUE, { connection, prefix });
    await this.upsertScheduler();
    // The scheduler lives in Redis: when Redis loses its data (restart without persistence,
    // FLUSHALL) it is gone and no tick would ever run again. Every replica checks that it exists
    // and recreates it when missing (one small read per check; the upsert is idempotent if two
    // replicas race).
    this.repairTimer = setInterval(() => void this.repair(), Math.max(1000, 3 * config.CLEANUP_INTERVAL_MS));
    this.repairTimer.unref();
    this.worker = new Worker(MAINTENANCE_QUEUE, (job) => this.run(job), {
      connection,
      prefix,
      concurrency: 1,
      // A tick that outlives its lock would be picked up again by another replica.
      lockDuration: Math.max(30_000, config.CLEANUP_INTERVAL_MS * 4),
    });
    this.worker.on('error', (err) => (isRedisOutOfMemory(err) ? this.pauseWhileFull(err) : log.warn({ err }, 'maintenance worker error')));
    this.worker.on('failed', (job, err) =>
      isRedisOutOfMemory(err) ? this.pauseWhileFull(err) : log.warn({ err, jobId: job?.id }, 'maintenance tick failed'),
    );
  }

  /**
   * Registers (or refreshes) the repeating tick. A full Redis (maxmemory, noeviction) refuses it:
   * then this replica starts anyway and tries again later, instead of failing its startup while
   * Redis is full (an orchestrator would restart it in a loop). The other replicas' scheduler
   * keeps ticking meanwhile; this replica's worker takes ticks as usual.
   */
  private async upsertScheduler(): Promise<void> {
    const { config, log } = this.deps;
    if (!this.queue || this.closed) return;
    try {
      await this.queue.upsertJobScheduler(
        SCHEDULER_ID,
        { every: config.CLEANUP_INTERVAL_MS },
        { name: SCHEDULER_ID, opts: { removeOnComplete: 100, removeOnFail: 100 } },
      );
    } catch (err) {
      if (!isRedisOutOfMemory(err)) throw err;
      log.warn(
        { redisError: (err as Error).message },
        `Redis is full: maintenance scheduler not registered, trying again in ${SCHEDULER_RETRY_MS} ms`,
      );
      this.schedulerRetry = setTimeout(() => {
        this.upsertScheduler().catch((e: unknown) => log.warn({ err: e }, 'maintenance scheduler registration failed'));
      }, SCHEDULER_RETRY_MS);
      this.schedulerRetry.unref();
    }
  }

  /**
   * Redis is full. BullMQ's worker retries a refused script at once, in a tight loop (thousands of
   * failed calls and log lines a second, against a Redis already under pressure), and a tick whose
   * next iteration could not be added ends the scheduler's chain: no tick would ever run again.
   * So: pause this worker for a while, then resume and register the scheduler again, which adds
   * the next tick if the chain was cut (and retries by itself while Redis is still full).
   */
  private pauseWhileFull(err: Error): void {
    if (this.fullPause || this.closed) return;
    this.deps.log.warn({ redisError: err.message }, `Redis is full: maintenance paused for ${FULL_PAUSE_MS} ms`);
    void this.worker?.pause(true);
    this.fullPause = setTimeout(() => {
      this.fullPause = null;
      if (this.closed) return;
      this.worker?.resume().catch((e: unknown) => this.deps.log.warn({ err: e }, 'maintenance worker did not resume'));
      this.upsertScheduler().catch((e: unknown) => this.deps.log.warn({ err: e }, 'maintenance scheduler registration failed'));
    }, FULL_PAUSE_MS);
    this.fullPause.unref();
  }

  /** Recreates the job scheduler when Redis lost it; returns whether it had to. */
  async repair(): Promise<boolean> {
    if (!this.queue || this.closed) return false;
    try {
      if (await this.queue.getJobScheduler(SCHEDULER_ID)) return false;
      await this.upsertScheduler();
      this.stats.repairs++;
      this.deps.log.warn('maintenance scheduler was missing from Redis (data lost?): recreated');
      return true;
    } catch (err) {
      this.deps.log.warn({ err }, 'maintenance scheduler check failed');
      return false;
    }
  }

  private async run(job: Job): Promise<SweepResult> {
    const { instances, messages, config, log } = this.deps;
    const result = await sweep(instances, messages, config.CLEANUP_BATCH_SIZE);
    this.stats.runs++;
    this.stats.removed += result.removed;
    this.stats.lastRun = result;
    // The mesh-wide count is a figure for operators: failing to bump it must not fail the tick.
    await this.deps.counters?.countCleanupRun().catch((err: unknown) => log.warn({ err }, 'could not count the cleanup run'));
    if (job.id) this.ranJobIds.push(job.id);
    if (this.ranJobIds.length > 1000) this.ranJobIds.splice(0, 500);
    const level = result.removed > 0 || result.expiredMessages > 0 ? 'info' : 'debug';
    log[level]({ jobId: job.id, ...result }, `maintenance removed ${result.removed} expired instance(s)`);
    return result;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.repairTimer) clearInterval(this.repairTimer);
    if (this.schedulerRetry) clearTimeout(this.schedulerRetry);
    if (this.fullPause) clearTimeout(this.fullPause);
    await this.worker?.close();
    await this.queue?.close();
  }
}
