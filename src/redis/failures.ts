// What a failed Redis call means for the caller: Redis is away (retry shortly) or full (retry after
// memory is freed). Both are recognised from ioredis' error names and Redis' reply texts.

const REDIS_UNAVAILABLE_REPLY = /^(READONLY|LOADING|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|BUSY|NOREPLICAS)\b/;
const REDIS_UNAVAILABLE_MESSAGE =
  /Connection is closed|Command aborted due to connection close|Command timed out|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|Stream isn't writeable|None of startup nodes is available|Failed to refresh slots cache|All sentinels are unreachable/;
const REDIS_UNAVAILABLE_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);

/** Redis cannot be reached or cannot serve writes right now (connection, failover, loading). */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return REDIS_UNAVAILABLE_NAMES.has(err.name) || REDIS_UNAVAILABLE_REPLY.test(err.message) || REDIS_UNAVAILABLE_MESSAGE.test(err.message);
}

/** Redis at maxmemory with noeviction refused a write: "OOM command not allowed when used memory > 'maxmemory'". */
export function isRedisOutOfMemory(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // Anywhere in the message: BullMQ wraps it ("Failed to add repeatable job for next iteration: OOM ...").
  if (/(^OOM\b)|OOM command not allowed/.test(err.message)) return true;
  // A MULTI (ScriptRunner.runAfter: a body's HSET/SET, then the script) that Redis refused while
  // full fails as EXECABORT; ioredis attaches the refusals of the queued commands as previousErrors.
  const previous = (err as { previousErrors?: unknown }).previousErrors;
  return /^EXECABORT\b/.test(err.message) && Array.isArray(previous) && previous.some(isRedisOutOfMemory);
}
