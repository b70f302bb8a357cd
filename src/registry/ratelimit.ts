// Optional per-instance send rate limit (SEND_RATE_PER_SEC, SEND_BURST): one token bucket per
// sender in Redis (rate-limit.lua), shared by every replica, so the limit holds however many
// replicas the load balancer spreads a sender over. Off (null) unless SEND_RATE_PER_SEC > 0.
import { errors } from '../errors.js';
import { takeTokens } from '../redis/scripts/rate-limit.js';
import type { RegistryContext } from './context.js';

export interface RateLimitSettings {
  /** Tokens per second. */
  rate: number;
  /** Bucket size. */
  burst: number;
}

export function sendRateLimitSettings(config: RegistryContext['config']): RateLimitSettings | null {
  const rate = config.SEND_RATE_PER_SEC;
  if (!(rate > 0)) return null;
  return { rate, burst: config.SEND_BURST ?? Math.max(1, Math.ceil(rate)) };
}

export class SendRateLimiter {
  constructor(
    private readonly ctx: RegistryContext,
    readonly settings: RateLimitSettings,
  ) {}

  /** The limiter for this configuration, or null when rate limiting is off. */
  static fromContext(ctx: RegistryContext): SendRateLimiter | null {
    const settings = sendRateLimitSettings(ctx.config);
    return settings ? new SendRateLimiter(ctx, settings) : null;
  }

  /** Takes one token for `id`; throws rate_limited (saying when to retry) when the bucket is empty. */
  async take(id: string): Promise<void> {
    const { allowed, retryAfterMs } = await takeTokens(this.ctx.scripts, this.ctx.keys, {
      id,
      rate: this.settings.rate,
      burst: this.settings.burst,
      cost: 1,
    });
    if (!allowed) throw errors.rateLimited(id, retryAfterMs);
  }
}
