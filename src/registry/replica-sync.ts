// REDIS_SYNC_REPLICAS=N: a write the API acknowledges (register, send, ack, deregister) is answered
// only once N replicas have it (Redis WAIT), so a failover that promotes one of them cannot lose it.
// When they do not confirm within REDIS_SYNC_TIMEOUT_MS the answer is 503 not_replicated: the
// master has the write, but it might not survive a failover (a retry must be safe: sends carry an
// Idempotency-Key).
//
// Why it looks like this:
// - Group commit. WAIT blocks the connection it runs on until the replicas answer, and it waits
//   for that connection's writes only. Every write confirmed in one event-loop turn shares one
//   barrier: [sync-mark script, WAIT] pipelined on one connection, after their replies arrived.
//   The marker is a write, so the WAIT covers everything the master had applied at that moment -
//   also what other connections wrote (the first attempt of a replayed send, an ack that a retry
//   finds done). One WAIT per turn, not one per request.
// - Its own connection. Acknowledged writes and their barriers go to a second connection
//   (`scripts` here is bound to it), so heartbeats, fetches and listings never queue behind a WAIT.
//   When the replicas are slow or gone, only these writes wait (and get 503); heartbeats keep every
//   agent registered - the failure mode that rules out `min-replicas-to-write` with one replica.
// - Same master, or no confirmation. A WAIT on a connection that was re-established (Sentinel
//   switch, reconnect) says nothing about writes made on the old one: a write whose connection
//   closed between the write and its barrier's answer is answered 503 too.
// - Cluster. ioredis sends a keyless WAIT to a random master; in a pipeline with the marker (a key
//   with the namespace's hash tag) it goes to the master owning the namespace's slot, on the same
//   node connection as the namespace's writes.
import { Cluster, type Redis } from 'ioredis';
import { errors } from '../errors.js';
import type { RedisClient } from '../redis/client.js';
import type { MeshKeys } from '../redis/keys.js';
import type { ScriptRunner } from '../redis/script-runner.js';
import { markAndWait } from '../redis/scripts/sync-mark.js';
import { TurnBatcher } from './turn-batch.js';

/** This replica's share, read by /metrics. */
export interface ReplicaSyncCounters {
  /** Barriers run: one WAIT each, for all writes confirmed in one event-loop turn. */
  barriers: number;
  /** Writes confirmed by enough replicas in time. */
  confirmed: number;
  /** Writes answered 503 not_replicated (too few replicas in time, or the connection changed). */
  notReplicated: number;
  /** Writes whose barrier failed with a Redis error (the connection closed under it): also 503 not_replicated. */
  failed: number;
  /** Sum of barrier round trips (WAIT included), in seconds. */
  waitSeconds: number;
}

interface Waiter {
  since: number;
  resolve(): void;
  reject(err: unknown): void;
}

/** Calls `changed` whenever a connection of `client` closes (on Cluster: any node's). */
function onConnectionClosed(client: RedisClient, changed: () => void): void {
  if (client instanceof Cluster) {
    client.on('+node', (node: Redis) => node.on('close', changed));
    client.on('-node', changed);
  } else {
    client.on('close', changed);
  }
}

export class ReplicaSync {
  readonly counters: ReplicaSyncCounters = { barriers: 0, confirmed: 0, notReplicated: 0, failed: 0, waitSeconds: 0 };
  /** Writes confirmed in the same event-loop turn share one barrier. */
  private readonly waiting = new TurnBatcher<Waiter>((batch) => void this.barrier(batch));
  private closes = 0;

  constructor(
    /** The scripts on the connection that acknowledged writes (and only they) use. */
    readonly scripts: ScriptRunner,
    /** The namespace's keys (its marker key routes the barrier on Cluster). */
    private readonly keys: MeshKeys,
    readonly replicas: number,
    readonly timeoutMs: number,
  ) {
    onConnectionClosed(scripts.client, () => this.closes++);
  }

  /**
   * A position to pass to confirm(): take it before the first write of an operation that makes
   * several (pages of acks), so a connection change after any of them is noticed.
   */
  get epoch(): number {
    return this.closes;
  }

  /**
   * Resolves once `replicas` replicas have every write this master had applied when the barrier
   * ran (the caller's own included: call it after the write's reply). Rejects with 503
   * not_replicated when they do not confirm in time, or when the connection closed since `since`.
   */
  confirm(since: number = this.closes): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.add({ since, resolve, reject });
    });
  }

  private async barrier(batch: Waiter[]): Promise<void> {
    this.counters.barriers++;
    const started = performance.now();
    let acked: number;
    try {
      acked = await markAndWait(this.scripts, this.keys, this.replicas, this.timeoutMs);
    } catch {
      // The writes were applied (their replies came); only their confirmation failed - the
      // connection closed under the barrier (a failover), or it reached a replica (READONLY).
      this.counters.failed += batch.length;
      for (const w of batch) w.reject(errors.notReplicated(this.replicas, 0, this.timeoutMs, true));
      return;
    } finally {
      this.counters.waitSeconds += (performance.now() - started) / 1000;
    }
    for (const w of batch) {
      if (acked >= this.replicas && w.since === this.closes) {
        this.counters.confirmed++;
        w.resolve();
      } else {
        this.counters.notReplicated++;
        // After a connection change the count is about another connection: none of ours confirmed.
        const changed = w.since !== this.closes;
        w.reject(errors.notReplicated(this.replicas, changed ? 0 : acked, this.timeoutMs, changed));
      }
    }
  }
}
