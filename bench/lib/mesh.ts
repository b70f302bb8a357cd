// The registry's own services and scripts, used in-process (no HTTP) where a phase needs Redis-side
// figures without the replica in between: bulk registration, per-script cost, memory, cleanup.
// Same code as the replicas run: src/redis/script-runner.ts loads the same Lua files.
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { configFrom, type Config } from '../../src/config.js';
import { meshKeys, type MeshKeys } from '../../src/redis/keys.js';
import { ScriptRunner } from '../../src/redis/script-runner.js';
import { register } from '../../src/redis/scripts/register.js';
import type { RegistryContext } from '../../src/registry/context.js';
import { InstanceService, recordGraceMs } from '../../src/registry/instances.js';
import { MembershipView } from '../../src/registry/membership.js';
import { MessageService } from '../../src/registry/messages.js';
import { WakeBus } from '../../src/registry/wakeups.js';

export interface Mesh {
  redis: Redis;
  config: Config;
  keys: MeshKeys;
  scripts: ScriptRunner;
  instances: InstanceService;
  messages: MessageService;
  close(): Promise<void>;
}

export function openMesh(redisUrl: string, namespace: string, overrides: Record<string, string | number> = {}): Mesh {
  const config = configFrom({ REDIS_URL: redisUrl, MESH_NAMESPACE: namespace, ...overrides });
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const keys = meshKeys(namespace);
  const scripts = new ScriptRunner(redis);
  const wake = new WakeBus(redis, null, keys.wakeChannel, pino({ level: 'silent' }));
  const ctx: RegistryContext = { config, keys, scripts, wake };
  const instances = new InstanceService(ctx);
  const membership = new MembershipView(ctx, pino({ level: 'silent' }));
  return {
    redis,
    config,
    keys,
    scripts,
    instances,
    messages: new MessageService(ctx, membership, () => instances.cleanupBatch(config.CLEANUP_BATCH_SIZE)),
    async close() {
      await redis.quit();
    },
  };
}

/** A realistic record: 3 capabilities, 2 profiles (status and metrics come with heartbeats). */
export const CAPS = ['code-review', 'summarize', 'search'];
export const PROFILES = ['default', 'reviewer'];
export const STATUS = 'ready';
export const METRICS = { load: 0.42, queue: 3, tasks_done: 1234 };
/** The heartbeat body every benchmark sends (the baselines answer a body of the same size). */
export const HEARTBEAT_BODY = JSON.stringify({ status: STATUS, metrics: METRICS });

export const agentId = (prefix: string, i: number): string => `${prefix}-${String(i).padStart(6, '0')}`;

/**
 * The register script alone (InstanceService.register also lists all peers afterwards, which is
 * what the HTTP route needs but not what bulk set-up needs).
 */
export function registerRaw(m: Mesh, id: string, caps = CAPS): Promise<unknown> {
  return register(m.scripts, m.keys, {
    id,
    hostname: 'agent-host.example.internal',
    port: 8080,
    capabilities: caps,
    profiles: PROFILES,
    staleTimeoutMs: m.config.STALE_TIMEOUT_MS,
    eventsMaxlen: m.config.EVENTS_MAXLEN,
    recordGraceMs: recordGraceMs(m.config),
    newTokenHash: '',
    presentedHash: '',
    enforceOwner: false,
    card: null,
  });
}

/** Runs `fn(i)` for i in [from, to) with at most `window` calls in flight (ioredis pipelines them). */
export async function inFlight(from: number, to: number, window: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = from;
  const worker = async () => {
    while (next < to) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, Math.max(0, to - from)) }, worker));
}

/**
 * Registers instances prefix-<from..to-1> (deadline = the mesh's STALE_TIMEOUT_MS) and gives each
 * one heartbeat with status + metrics, so the record is complete.
 */
export async function populate(m: Mesh, prefix: string, from: number, to: number): Promise<void> {
  await inFlight(from, to, 256, async (i) => {
    const id = agentId(prefix, i);
    await registerRaw(m, id);
    await m.instances.heartbeat(id, STATUS, METRICS);
  });
}
