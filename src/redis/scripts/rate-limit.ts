// rate-limit.lua: takes tokens from one sender's bucket (shared by every replica).
import type { MeshKeys } from '../keys.js';
import type { ScriptRunner } from '../script-runner.js';
import { flag, tableOf } from './decode.js';

export interface RateLimitCall {
  id: string;
  /** Tokens added per second. */
  rate: number;
  /** Bucket size. */
  burst: number;
  /** Tokens this call takes. */
  cost: number;
}

export const rateLimitKeys = (k: MeshKeys, id: string): string[] => [k.rateLimit(id)];

export async function takeTokens(
  scripts: ScriptRunner,
  k: MeshKeys,
  c: RateLimitCall,
): Promise<{ allowed: boolean; retryAfterMs: number }> {
  const r = tableOf('rate-limit', await scripts.run('rate-limit', rateLimitKeys(k, c.id), [c.rate, c.burst, c.cost]));
  return { allowed: flag(r[0]), retryAfterMs: Number(r[1]) };
}
