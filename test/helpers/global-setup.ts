// One Redis for the whole vitest run. Tests isolate themselves by a unique MESH_NAMESPACE
// (see ns.ts), so sharing is safe and saves a container/process start per test file.
// Tests read it with `inject('redisUrl')`.
import type { TestProject } from 'vitest/node';
import { startRedis, type RedisKind } from './redis.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisKind: RedisKind;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const redis = await startRedis();
  process.stderr.write(`[global-setup] ${redis.kind} Redis at ${redis.url} (${Date.now() - started} ms)\n`);
  project.provide('redisUrl', redis.url);
  project.provide('redisKind', redis.kind);
  return async () => {
    await redis.stop();
  };
}
