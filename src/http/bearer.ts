// Bearer tokens: reading one from a request, and comparing it with known tokens in constant time
// (SHA-256 digests compared with timingSafeEqual, so neither the length nor the content of a
// guess changes how long the comparison takes).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

/** What an instance token is stored as in Redis (never the token itself). */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

const digest = (token: string): Buffer => createHash('sha256').update(token).digest();

/** The token of `Authorization: Bearer <token>`, or null (absent, another scheme, over 512 characters). */
export function bearerOf(request: FastifyRequest): string | null {
  const h = request.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S{1,512})\s*$/i.exec(h);
  return m ? m[1]! : null;
}

export class TokenSet {
  private readonly digests: Buffer[];

  constructor(tokens: readonly string[]) {
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
