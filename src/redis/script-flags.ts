// Which scripts may run while Redis is full. With maxmemory-policy noeviction, Redis at maxmemory
// refuses commands that may grow memory (OOM). Every script gets a Redis 7 shebang so Redis decides
// BEFORE it runs: a script without flags counts as one that may write and is refused as a whole
// (never half-applied), and the API answers 507. Without a shebang Redis would instead refuse the
// first growing command inside the script unless an earlier command had already written, so
// whether a script runs when full would depend on which branch it took.
//
// `allow-oom` goes to the scripts a full Redis must still run: those that free memory (ack, leave,
// cleanup, expiry), that only read, and heartbeat and fetch, which rewrite what is already there.
// Refusing heartbeats would let every agent lapse and be purged with its queued messages; refusing
// fetch would keep consumers from acknowledging, which is how memory comes back. New scripts get
// no flag: refused when full, the safe default.
import type { ScriptName } from './script-runner.js';

export const RUN_WHEN_FULL: ReadonlySet<ScriptName> = new Set<ScriptName>([
  // free memory
  'ack',
  'deregister',
  'cleanup',
  'expire-messages',
  // the replica-sync barrier's marker (one counter): acks and leaving must be confirmed when full
  'sync-mark',
  // rewrite existing keys (heartbeat: deadline, status, a capped event on change; fetch: moves
  // broadcast entries into the member's pending list; route: one counter)
  'heartbeat',
  'fetch',
  'route',
  // read (list may also elect a leader when the seat is vacant: a few small writes)
  'list',
  'live-count',
  'stats',
  'token-owner',
  'is-live',
]);

/** The first line of a script's source: the shebang with its flags. */
export function shebang(name: string): string {
  return RUN_WHEN_FULL.has(name as ScriptName) ? '#!lua flags=allow-oom\n' : '#!lua\n';
}
