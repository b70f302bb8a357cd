// Service-level calls reject with domain errors (src/errors.ts); what a client would get for one is
// decided by the HTTP layer's table (src/http/error-status.ts). Tests that call services directly
// check both through this.
import { expect } from 'vitest';
import { MeshDomainError } from '../../src/errors.js';
import { httpError } from '../../src/http/error-status.js';

/** The HTTP answer `err` becomes: status, code and headers. Fails unless `err` is a domain error. */
export function asHttpAnswer(err: unknown): { statusCode: number; code: unknown; headers: Record<string, string> } {
  expect(err).toBeInstanceOf(MeshDomainError);
  const answer = httpError(err as MeshDomainError);
  return { statusCode: answer.status, code: answer.body.code, headers: answer.headers };
}

/** The rejection of `promise` (fails when it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (err: unknown) => err,
  );
}
