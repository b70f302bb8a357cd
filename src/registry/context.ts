// What every registry service needs: the namespace's keys, the script runner, the settings that
// scripts take as arguments, and the wake bus to tell other replicas that something happened.
import type { Config } from '../config.js';
import type { MeshKeys } from '../redis/keys.js';
import type { Scripts } from '../redis/scripts.js';
import type { WakeBus } from './wakeups.js';

export interface RegistryContext {
  config: Config;
  keys: MeshKeys;
  scripts: Scripts;
  wake: WakeBus;
}

/** Redis TIME in ms -> RFC 3339 UTC with millisecond precision and `Z`, as the contract wants. */
export function isoFromMs(ms: number | string): string {
  return new Date(Number(ms)).toISOString();
}
