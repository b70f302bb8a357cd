// Loads the Lua scripts under ./lua, inlines their `-- @include "name"` lines (files in
// ./lua/includes), and registers them with ioredis' defineCommand. ioredis sends EVALSHA and falls
// back to EVAL on NOSCRIPT, so a SCRIPT FLUSH or a restarted/failed-over Redis reloads them
// transparently. The typed wrappers here are the only code that knows the scripts' reply layouts.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RedisClient } from './client.js';

const LUA_DIR = join(dirname(fileURLToPath(import.meta.url)), 'lua');

/** Script name -> number of KEYS it declares (the rest of the arguments are ARGV). */
export const SCRIPT_KEYS = {
  register: 8,
  heartbeat: 4,
  deregister: 5,
  list: 5,
  cleanup: 4,
  send: 5,
  fetch: 2,
  ack: 2,
  'expire-messages': 3,
  'live-count': 1,
  peek: 2,
  stats: 7,
  'rate-limit': 1,
  counters: 2,
  'pending-ids': 2,
} as const;

export type ScriptName = keyof typeof SCRIPT_KEYS;

const INCLUDE = /^-- @include "([\w-]+)"\s*$/gm;

export function loadScriptSource(name: string): string {
  const raw = readFileSync(join(LUA_DIR, `${name}.lua`), 'utf8');
  return raw.replace(INCLUDE, (_, inc: string) => readFileSync(join(LUA_DIR, 'includes', `${inc}.lua`), 'utf8'));
}

type Arg = string | number;
type ScriptFn = (...args: Arg[]) => Promise<unknown>;

/**
 * Told about every script call once it settles (metrics: Redis latency per script). `error` is null
 * on success. Observers must be cheap; anything they throw is swallowed.
 */
export type ScriptObserver = (name: ScriptName, durationMs: number, error: unknown) => void;

/** Calls registered scripts by name; one instance per Redis client. */
export class Scripts {
  private readonly fns = new Map<ScriptName, ScriptFn>();
  private readonly observers = new Set<ScriptObserver>();

  constructor(readonly client: RedisClient) {
    for (const [name, numberOfKeys] of Object.entries(SCRIPT_KEYS) as [ScriptName, number][]) {
      const command = `mesh_${name.replace(/-/g, '_')}`;
      client.defineCommand(command, { numberOfKeys, lua: loadScriptSource(name) });
      const fn = (client as unknown as Record<string, ScriptFn>)[command];
      if (typeof fn !== 'function') throw new Error(`defineCommand did not define ${command}`);
      this.fns.set(name, fn.bind(client));
    }
  }

  run(name: ScriptName, keys: string[], args: Arg[]): Promise<unknown> {
    const fn = this.fns.get(name);
    if (!fn) throw new Error(`unknown script ${name}`);
    if (keys.length !== SCRIPT_KEYS[name]) {
      throw new Error(`script ${name} takes ${SCRIPT_KEYS[name]} keys, got ${keys.length}`);
    }
    if (this.observers.size === 0) return fn(...keys, ...args);
    const started = performance.now();
    return fn(...keys, ...args).then(
      (reply) => {
        this.notify(name, performance.now() - started, null);
        return reply;
      },
      (err: unknown) => {
        this.notify(name, performance.now() - started, err);
        throw err;
      },
    );
  }

  /** Adds an observer of every script call; returns the function that removes it. */
  observe(fn: ScriptObserver): () => void {
    this.observers.add(fn);
    return () => {
      this.observers.delete(fn);
    };
  }

  private notify(name: ScriptName, durationMs: number, error: unknown): void {
    for (const fn of this.observers) {
      try {
        fn(name, durationMs, error);
      } catch {
        // An observer's failure must never fail the Redis call it watched.
      }
    }
  }
}
