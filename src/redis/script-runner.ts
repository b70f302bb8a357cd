// Loads the Lua scripts under ./lua and runs them. Each script's header is its contract: the
// `KEYS[n] name` lines say how many keys it takes (the runner checks every call against them), and
// the typed wrappers in ./scripts/ build those keys and decode the reply. Nothing else calls
// run() or runAfter().
//
// `-- @include "name"` lines are replaced by ./lua/includes/<name>.lua (each include once per
// script, nested includes allowed), so a script stays one atomic unit, as BullMQ's includes do.
// Scripts are registered with ioredis' defineCommand, which sends EVALSHA and falls back to EVAL on
// NOSCRIPT: a SCRIPT FLUSH or a restarted/failed-over Redis reloads them transparently.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RedisClient } from './client.js';
import { shebang } from './script-flags.js';

const LUA_DIR = join(dirname(fileURLToPath(import.meta.url)), 'lua');

/** Every script in ./lua (file name without `.lua`). */
export const SCRIPT_NAMES = [
  'register',
  'heartbeat',
  'deregister',
  'list',
  'cleanup',
  'route',
  'send',
  'fetch',
  'ack',
  'expire-messages',
  'live-count',
  'stats',
  'rate-limit',
  'token-owner',
  'counters',
  'pending-ids',
  'is-live',
  'sync-mark',
] as const;

export type ScriptName = (typeof SCRIPT_NAMES)[number];

export type ScriptArg = string | number;

const INCLUDE = /^-- @include "([\w-]+)"[ \t]*$/gm;

const commandName = (name: ScriptName): string => `mesh_${name.replace(/-/g, '_')}`;

function inlineIncludes(source: string, seen: Set<string>): string {
  return source.replace(INCLUDE, (_, inc: string) => {
    if (seen.has(inc)) return '';
    seen.add(inc);
    return inlineIncludes(readFileSync(join(LUA_DIR, 'includes', `${inc}.lua`), 'utf8'), seen);
  });
}

/** A script's source as Redis runs it: its shebang (script-flags.ts), then the includes inlined. */
export function loadScriptSource(name: ScriptName): string {
  return shebang(name) + inlineIncludes(readFileSync(join(LUA_DIR, `${name}.lua`), 'utf8'), new Set());
}

/** The key names a script's header declares (`KEYS[1] deadlines ...`), in order. */
export function declaredKeys(name: ScriptName): string[] {
  const raw = readFileSync(join(LUA_DIR, `${name}.lua`), 'utf8');
  const header = /^--\[\[([\s\S]*?)\]\]/.exec(raw)?.[1] ?? '';
  const names: string[] = [];
  for (const [, n, key] of header.matchAll(/KEYS\[(\d+)\]\s+(\S+)/g)) {
    if (Number(n) !== names.length + 1) throw new Error(`${name}.lua: KEYS[${n}] out of order in its header`);
    names.push(key!);
  }
  return names;
}

type ScriptFn = (...args: ScriptArg[]) => Promise<unknown>;

/**
 * Told about every script call once it settles (metrics: Redis latency per script). `error` is null
 * on success. Observers must be cheap; anything they throw is swallowed.
 */
export type ScriptObserver = (name: ScriptName, durationMs: number, error: unknown) => void;

/** Calls registered scripts by name; one instance per Redis client. */
export class ScriptRunner {
  private readonly fns = new Map<ScriptName, ScriptFn>();
  private readonly keyCounts = new Map<ScriptName, number>();
  private readonly observers: Set<ScriptObserver>;
  private readonly sources = new Map<ScriptName, string>();

  /** `sibling`: share its observers (the same scripts on a second connection, see onClient). */
  constructor(
    readonly client: RedisClient,
    sibling?: ScriptRunner,
  ) {
    this.observers = sibling ? sibling.observers : new Set<ScriptObserver>();
    for (const name of SCRIPT_NAMES) {
      const command = commandName(name);
      const lua = loadScriptSource(name);
      const numberOfKeys = declaredKeys(name).length;
      this.sources.set(name, lua);
      this.keyCounts.set(name, numberOfKeys);
      client.defineCommand(command, { numberOfKeys, lua });
      const fn = (client as unknown as Record<string, ScriptFn>)[command];
      if (typeof fn !== 'function') throw new Error(`defineCommand did not define ${command}`);
      this.fns.set(name, fn.bind(client));
    }
  }

  private checkKeys(name: ScriptName, keys: string[]): void {
    const want = this.keyCounts.get(name);
    if (keys.length !== want) throw new Error(`script ${name} takes ${want} keys, got ${keys.length}`);
  }

  run(name: ScriptName, keys: string[], args: ScriptArg[]): Promise<unknown> {
    const fn = this.fns.get(name);
    if (!fn) throw new Error(`unknown script ${name}`);
    this.checkKeys(name, keys);
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
  async runAfter(prelude: [string, ...ScriptArg[]][], name: ScriptName, keys: string[], args: ScriptArg[]): Promise<unknown> {
    this.checkKeys(name, keys);
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
    prelude: [string, ...ScriptArg[]][],
    name: ScriptName,
    keys: string[],
    args: ScriptArg[],
    withSource: boolean,
  ): Promise<[Error | null, unknown][] | null> {
    const multi = this.client.multi() as unknown as Record<string, (...a: ScriptArg[]) => unknown> & {
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
  onClient(client: RedisClient): ScriptRunner {
    return new ScriptRunner(client, this);
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
