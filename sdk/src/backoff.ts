// Exponential backoff with full jitter, for the client's retries and the agent's long-running loops
// (re-register, reconnect the feed, retry acks).

/**
 * Full-jitter backoff for retry number `attempt` (1-based): random(0, min(max, base * 2^(n-1))).
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1)));
}
