// Optional per-instance send rate limit (SEND_RATE_PER_SEC, SEND_BURST): one token bucket per
// sender in Redis (rate-limit.lua), shared by every replica, so the limit holds however many
// replicas the load balancer spreads a sender over. Off (null) unless SEND_RATE_PER_SEC > 0.
import { errors } from '../errors.js';
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

  /** Bucket key of a sender: `mesh:{ns}:rl:<id>` (ids are validated, so no hash-tag tricks). */
  key(id: string): string {
    return `${this.ctx.keys.prefix}rl:${id}`;
  }

  /** Takes one token for `id`; throws 429 rate_limited (with Retry-After) when the bucket is empty. */
  async take(id: string): Promise<void> {
    const [allowed, retryAfterMs] = (await this.ctx.scripts.run(
      'rate-limit',
      [this.key(id)],
      [this.settings.rate, this.settings.burst, 1],
    )) as [number, number];
    if (allowed !== 1) throw errors.rateLimited(id, retryAfterMs);
  }
}
