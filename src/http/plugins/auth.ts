// AUTH_MODE enforcement. Tokens are compared as SHA-256 digests with timingSafeEqual; instance
// tokens are random 256-bit values stored in Redis only as their SHA-256 hash.
//   none:     everything open (seed-compatible; a warning is logged at startup)
//   token:    every API call needs a bearer from AUTH_TOKENS or ADMIN_TOKENS
//   instance: register needs a registration bearer (AUTH_TOKENS) when configured and returns an
//             instance token; acting as an instance needs that instance's token (or an admin token)
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Config } from '../../config.js';
import { errors } from '../../errors.js';
import type { InstanceService, OwnershipCheck } from '../../registry/instances.js';

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function bearerOf(request: FastifyRequest): string | null {
  const h = request.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S{1,512})\s*$/i.exec(h);
  return m ? m[1]! : null;
}

class TokenSet {
  private readonly digests: Buffer[];
  constructor(tokens: string[]) {
    this.digests = tokens.map(digest);
  }
  get size(): number {
    return this.digests.length;
  }
  has(token: string): boolean {
    const d = digest(token);
    let found = false;
    // No early exit: the time taken does not depend on which token matched.
    for (const candidate of this.digests) found = timingSafeEqual(candidate, d) || found;
    return found;
  }
}

export interface RegisterGrant {
  ownership: OwnershipCheck;
  /** The new instance token (instance mode), returned to the caller once. */
  token: string | null;
}

export class Auth {
  private readonly shared: TokenSet;
  private readonly admins: TokenSet;

  constructor(
    private readonly config: Config,
    private readonly instances: InstanceService,
  ) {
    this.shared = new TokenSet(config.AUTH_TOKENS);
    this.admins = new TokenSet(config.ADMIN_TOKENS);
  }

  get mode(): Config['AUTH_MODE'] {
    return this.config.AUTH_MODE;
  }

  private requireShared(request: FastifyRequest): string {
    const bearer = bearerOf(request);
    if (!bearer || !(this.shared.has(bearer) || this.admins.has(bearer))) throw errors.unauthorized();
    return bearer;
  }

  forRegister(request: FastifyRequest, _id: string): RegisterGrant {
    if (this.mode === 'none') return { ownership: { enforce: false }, token: null };
    if (this.mode === 'token') {
      this.requireShared(request);
      return { ownership: { enforce: false }, token: null };
    }
    if (this.shared.size > 0) this.requireShared(request);
    const token = randomBytes(32).toString('base64url');
    const presented = request.headers['x-instance-token'];
    return {
      token,
      ownership: {
        enforce: true,
        newTokenHash: hashToken(token),
        presentedHash: typeof presented === 'string' ? hashToken(presented) : '',
      },
    };
  }

  /** Reading the registry: any valid token in token/instance mode. */
  async forRead(request: FastifyRequest): Promise<void> {
    if (this.mode === 'none') return;
    if (this.mode === 'token') {
      this.requireShared(request);
      return;
    }
    const bearer = bearerOf(request);
    if (!bearer) throw errors.unauthorized();
    if (this.admins.has(bearer) || this.shared.has(bearer)) return;
    if ((await this.instances.tokenOwner(hashToken(bearer))) === null) throw errors.unauthorized();
  }

  /** Acting as instance `id` (heartbeat, deregister, send as, fetch, ack, stream). */
  async forInstance(request: FastifyRequest, id: string): Promise<OwnershipCheck> {
    if (this.mode === 'none') return { enforce: false };
    if (this.mode === 'token') {
      this.requireShared(request);
      return { enforce: false };
    }
    const bearer = bearerOf(request);
    if (!bearer) throw errors.unauthorized('This route needs the instance token returned by register');
    if (this.admins.has(bearer)) return { enforce: false, admin: true };
    const owner = await this.instances.tokenOwner(hashToken(bearer));
    if (owner === null) throw errors.unauthorized('Unknown or revoked instance token');
    if (owner !== id) throw errors.forbidden(`This token does not grant access to instance '${id}'`);
    return { enforce: false };
  }
}
