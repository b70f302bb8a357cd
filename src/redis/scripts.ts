// Loads the Lua scripts under ./lua, inlines their `-- @include "name"` lines (files in
// ./lua/includes), and registers them with ioredis' defineCommand. ioredis sends EVALSHA and falls
// back to EVAL on NOSCRIPT, so a SCRIPT FLUSH or a restarted/failed-over Redis reloads them
// transparently. The typed wrappers here are the only code that knows the scripts' reply layouts.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RedisClient } from './client.js';
import { shebang } from './script-flags.js';

const LUA_DIR = join(dirname(fileURLToPath(import.meta.url)), 'lua');

/** Script name -> number of KEYS it declares (the rest of the arguments are ARGV). */
export const SCRIPT_KEYS = {
  register: 7,
  heartbeat: 4,
  deregister: 5,
  list: 5,
  cleanup: 4,
  route: 3,
  send: 8,
  fetch: 2,
  ack: 1,
  'expire-messages': 5,
  'live-count': 1,
  stats: 7,
  'rate-limit': 1,
  'token-owner': 2,
  counters: 2,
  'pending-ids': 2,
  'is-live': 1,
  'sync-mark': 1,
} as const;

export type ScriptName = keyof typeof SCRIPT_KEYS;

const INCLUDE = /^-- @include "([\w-]+)"\s*$/gm;

const commandName = (name: ScriptName): string => `mesh_${name.replace(/-/g, '_')}`;

export function loadScriptSource(name: string): string {
  const raw = readFileSync(join(LUA_DIR, `${name}.lua`), 'utf8');
  // The shebang says whether Redis may run the script when it is full (script-flags.ts).
  return shebang(name) + raw.replace(INCLUDE, (_, inc: string) => readFileSync(join(LUA_DIR, 'includes', `${inc}.lua`), 'utf8'));
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
  private readonly observers: Set<ScriptObserver>;
  private readonly sources = new Map<ScriptName, string>();

  /** `sibling`: share its observers (the same scripts on a second connection, see onClient). */
  constructor(
    readonly client: RedisClient,
    sibling?: Scripts,
  ) {
    this.observers = sibling ? sibling.observers : new Set<ScriptObserver>();
    for (const [name, numberOfKeys] of Object.entries(SCRIPT_KEYS) as [ScriptName, number][]) {
      const command = commandName(name);
      const lua = loadScriptSource(name);
      this.sources.set(name, lua);
      client.defineCommand(command, { numberOfKeys, lua });
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

  /**
   * Runs plain commands, then a script, in one MULTI/EXEC: atomically, so the script sees what
   * the commands wrote and whatever it undoes is never seen half-done. Used to hand message bodies
   * to Redis with a plain HSET (cheap) while the script only handles metadata (scripts copy every
   * byte they touch). Returns the script's reply; throws the first error of the transaction.
   */
  async runAfter(prelude: [string, ...Arg[]][], name: ScriptName, keys: string[], args: Arg[]): Promise<unknown> {
    if (keys.length !== SCRIPT_KEYS[name]) {
      throw new Error(`script ${name} takes ${SCRIPT_KEYS[name]} keys, got ${keys.length}`);
    }
    const started = this.observers.size === 0 ? 0 : performance.now();
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await this.execWith(prelude, name, keys, args, false);
      // ioredis reloads a flushed script by itself for single calls, not inside a MULTI: after a
      // SCRIPT FLUSH or a failover the EVALSHA fails there. Run it again with its source (the
      // plain commands before it are idempotent writes of the same values).
      if (replies?.at(-1)?.[0]?.message.startsWith('NOSCRIPT')) replies = await this.execWith(prelude, name, keys, args, true);
    } catch (err) {
      if (started) this.notify(name, performance.now() - started, err);
      throw err;
    }
    const failed = replies?.find(([err]) => err !== null)?.[0] ?? (replies ? null : new Error('transaction aborted'));
    if (started) this.notify(name, performance.now() - started, failed);
    if (failed) throw failed;
    return replies![replies!.length - 1]![1];
  }

  private async execWith(
    prelude: [string, ...Arg[]][],
    name: ScriptName,
    keys: string[],
    args: Arg[],
    withSource: boolean,
  ): Promise<[Error | null, unknown][] | null> {
    const multi = this.client.multi() as unknown as Record<string, (...a: Arg[]) => unknown> & {
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    for (const [command, ...a] of prelude) multi[command]!(...a);
    if (withSource) multi.eval!(this.sources.get(name)!, keys.length, ...keys, ...args);
    else multi[commandName(name)]!(...keys, ...args);
    try {
      return await multi.exec();
    } catch (err) {
      // Redis refused a command while queueing it (OOM when full, ...): EXEC answers EXECABORT
      // and nothing ran. The first refusal says why (the error handler maps OOM to 507).
      const cause = (err as { previousErrors?: Error[] }).previousErrors?.[0];
      throw cause ?? err;
    }
  }

  /** The same scripts on another client (connection), reported to the same observers. */
  onClient(client: RedisClient): Scripts {
    return new Scripts(client, this);
  }

  /** A script's full source (shebang and includes inlined), for EVAL inside pipelines. */
  source(name: ScriptName): string {
    return this.sources.get(name)!;
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
