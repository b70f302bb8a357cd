// The latency of every script call this replica makes, for whoever wants to measure it (/metrics
// subscribes). The registry owns the scripts; the HTTP layer only listens.
import type { ScriptObserver, ScriptRunner } from '../redis/script-runner.js';

export type ScriptLatencyListener = ScriptObserver;

export class ScriptLatency {
  constructor(private readonly scripts: ScriptRunner) {}

  /** Calls `fn(script, durationMs, error)` after every script call; returns the unsubscribe. */
  subscribe(fn: ScriptLatencyListener): () => void {
    return this.scripts.observe(fn);
  }
}
