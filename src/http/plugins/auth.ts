// AUTH_MODE enforcement. Tokens are compared as SHA-256 digests with timingSafeEqual; instance
// tokens are random 256-bit values stored in Redis only as their SHA-256 hash.
//   none:     everything open (seed-compatible; a warning is logged at startup)
//   token:    every API call needs a bearer from AUTH_TOKENS or ADMIN_TOKENS
//   instance: register needs a registration bearer (AUTH_TOKENS) when configured and returns an
//             instance token; acting as an instance needs that instance's token (or an admin token)
// Routes call forRegister/forRead/forInstance; on top of that, plugins/security.ts runs guard() on
// every route (so a route that forgets its check is still closed): probes stay open, token mode
// needs a shared/admin bearer, instance mode needs some valid bearer except for register.
import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Config } from '../../config.js';
import { errors } from '../../errors.js';
import type { InstanceService, OwnershipCheck } from '../../registry/instances.js';
import { bearerOf, hashToken, TokenSet } from '../bearer.js';

export interface RegisterGrant {
  ownership: OwnershipCheck;
  /** The new instance token (instance mode), returned to the caller once. */
  token: string | null;
}

/** Who presented the request's bearer: resolved once per request (WeakMap), then reused. */
type Principal =
  | { kind: 'none' }
  | { kind: 'admin' }
  | { kind: 'shared' }
  | { kind: 'instance'; id: string; tokenHash: string; live: boolean }
  | { kind: 'unknown' };

export class Auth {
  private readonly shared: TokenSet;
  private readonly admins: TokenSet;
  private readonly principals = new WeakMap<FastifyRequest, Principal>();

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

  /** Instance mode: what the bearer is (admin, shared, a live registration's token, or unknown). */
  private async principal(request: FastifyRequest): Promise<Principal> {
    const cached = this.principals.get(request);
    if (cached) return cached;
    const bearer = bearerOf(request);
    let p: Principal;
    if (!bearer) p = { kind: 'none' };
    else if (this.admins.has(bearer)) p = { kind: 'admin' };
    else if (this.shared.has(bearer)) p = { kind: 'shared' };
    else {
      const tokenHash = hashToken(bearer);
      const owner = await this.instances.tokenOwner(tokenHash);
      p = owner === null ? { kind: 'unknown' } : { kind: 'instance', id: owner.id, tokenHash, live: owner.live };
    }
    this.principals.set(request, p);
    return p;
  }

  /**
   * Baseline for every non-public route (plugins/security.ts): token mode needs a shared or admin
   * bearer; instance mode needs any valid bearer, except register, which decides for itself.
   */
  async guard(request: FastifyRequest, isRegister: boolean): Promise<void> {
    if (this.mode === 'none') return;
    if (this.mode === 'token') {
      this.requireShared(request);
      return;
    }
    if (isRegister) {
      // Credentials before anything else: an anonymous client learns nothing about the body rules.
      if (this.shared.size > 0) this.requireShared(request);
      return;
    }
    // Any known bearer passes the baseline; routes decide the rest (a lapsed member's own token
    // still reaches heartbeat, which answers 404 so the member re-registers).
    const p = await this.principal(request);
    if (p.kind === 'none' || p.kind === 'unknown') throw errors.unauthorized();
  }

  /** Reading the registry: any valid token in token/instance mode. */
  async forRead(request: FastifyRequest): Promise<void> {
    if (this.mode === 'none') return;
    if (this.mode === 'token') {
      this.requireShared(request);
      return;
    }
    const p = await this.principal(request);
    if (p.kind === 'none' || p.kind === 'unknown') throw errors.unauthorized();
    // Liveness decides: a lapsed member's token stops granting reads when its deadline passes.
    if (p.kind === 'instance' && !p.live) throw errors.unauthorized('The instance this token belongs to is no longer live; register again');
  }

  /** Acting as instance `id` (heartbeat, deregister, send as, fetch, ack, stream). */
  async forInstance(request: FastifyRequest, id: string): Promise<OwnershipCheck> {
    if (this.mode === 'none') return { enforce: false };
    if (this.mode === 'token') {
      this.requireShared(request);
      return { enforce: false };
    }
    const p = await this.principal(request);
    if (p.kind === 'none') throw errors.unauthorized('This route needs the instance token returned by register');
    if (p.kind === 'admin') return { enforce: false, admin: true };
    if (p.kind !== 'instance') throw errors.unauthorized('Unknown or revoked instance token');
    if (p.id !== id) throw errors.forbidden(`This token does not grant access to instance '${id}'`);
    // Deregister re-checks the token inside its script: the id could have been re-registered by
    // someone else (new token) between this lookup and the script.
    return { enforce: true, presentedHash: p.tokenHash };
  }
}
