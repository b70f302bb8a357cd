// A Redis failure as the domain error a client gets (the HTTP error handler asks here, so the HTTP
// layer needs no knowledge of Redis' error texts).
import { errors, type MeshDomainError } from '../errors.js';
import { isRedisOutOfMemory, isRedisUnavailable } from '../redis/failures.js';

export interface RedisFailure {
  /** unavailable: Redis is away (503); full: it refused a write at maxmemory (507). */
  kind: 'unavailable' | 'full';
  error: MeshDomainError;
}

/** null when `err` is not a Redis failure (a bug, or an error of another kind). */
export function redisFailure(err: unknown): RedisFailure | null {
  if (isRedisUnavailable(err)) return { kind: 'unavailable', error: errors.unavailable() };
  if (isRedisOutOfMemory(err)) return { kind: 'full', error: errors.insufficientStorage() };
  return null;
}
