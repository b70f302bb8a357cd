// What Redis says about itself: INFO commandstats (time spent inside each command; for EVALSHA it
// includes every command the script runs), INFO cpu (the server process' CPU, which also counts
// network I/O and protocol parsing) and INFO memory.
import type { Redis } from 'ioredis';

export function parseInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

export interface CommandStat {
  calls: number;
  usec: number;
  usecPerCall: number;
}

export async function commandStats(client: Redis): Promise<Map<string, CommandStat>> {
  const info = parseInfo(await client.info('commandstats'));
  const out = new Map<string, CommandStat>();
  for (const [k, v] of info) {
    if (!k.startsWith('cmdstat_')) continue;
    const f = Object.fromEntries(v.split(',').map((kv) => kv.split('=') as [string, string]));
    out.set(k.slice('cmdstat_'.length), {
      calls: Number(f.calls),
      usec: Number(f.usec),
      usecPerCall: Number(f.usec_per_call),
    });
  }
  return out;
}

/** Seconds of CPU (user + sys) the redis-server process has used so far. */
export async function redisCpu(client: Redis): Promise<number> {
  const info = parseInfo(await client.info('cpu'));
  return Number(info.get('used_cpu_user')) + Number(info.get('used_cpu_sys'));
}

export async function usedMemory(client: Redis): Promise<number> {
  const info = parseInfo(await client.info('memory'));
  return Number(info.get('used_memory'));
}

export async function resetStats(client: Redis): Promise<void> {
  await client.config('RESETSTAT');
}

/** EVALSHA calls and time since the last RESETSTAT (EVAL counted too, after a NOSCRIPT). */
export async function scriptStats(client: Redis): Promise<CommandStat> {
  const s = await commandStats(client);
  const a = s.get('evalsha') ?? { calls: 0, usec: 0, usecPerCall: 0 };
  const b = s.get('eval') ?? { calls: 0, usec: 0, usecPerCall: 0 };
  const calls = a.calls + b.calls;
  const usec = a.usec + b.usec;
  return { calls, usec, usecPerCall: calls > 0 ? usec / calls : 0 };
}

/** Runs `fn` and reports the script statistics and Redis CPU it caused. */
export async function measureRedis<T>(
  client: Redis,
  fn: () => Promise<T>,
): Promise<{ result: T; scripts: CommandStat; cpuSec: number; all: Map<string, CommandStat> }> {
  await resetStats(client);
  const cpu0 = await redisCpu(client);
  const result = await fn();
  const cpuSec = (await redisCpu(client)) - cpu0;
  const all = await commandStats(client);
  return { result, scripts: await scriptStats(client), cpuSec, all };
}
