// What every registry service needs: the namespace's keys, the script runner, the settings that
// scripts take as arguments, and the wake bus to tell other replicas that something happened.
import type { Config } from '../config.js';
import type { MeshKeys } from '../redis/keys.js';
import type { ScriptRunner } from '../redis/script-runner.js';
import type { ReplicaSync } from './replica-sync.js';
import type { WakeBus } from './wakeups.js';

export interface RegistryContext {
  config: Config;
  keys: MeshKeys;
  scripts: ScriptRunner;
  wake: WakeBus;
  /**
   * REDIS_SYNC_REPLICAS > 0: the writes the API acknowledges run on `sync.scripts` (a connection
   * of their own) and are answered after `sync.confirm()`. Absent: they run on `scripts`,
   * unconfirmed (replica-sync.ts).
   */
  sync?: ReplicaSync;
}

/** Where a write the API acknowledges runs (see RegistryContext.sync). */
export function writeScripts(ctx: Pick<RegistryContext, 'scripts' | 'sync'>): ScriptRunner {
  return ctx.sync?.scripts ?? ctx.scripts;
}
