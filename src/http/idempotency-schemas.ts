// The Idempotency-Key request header of send and request (src/registry/idempotency.ts), validated
// like any other input: a bad key is a 400 naming the header, never silently ignored.
import { z } from 'zod';
import { fingerprint, parseIdempotencyKey, type IdempotencyInput } from '../registry/idempotency.js';

const TOKEN = '[A-Za-z0-9._:/+=~-]{1,255}';

export const idempotencyHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .regex(
      new RegExp(`^(?:${TOKEN}|"${TOKEN}")$`),
      'must be 1-255 characters of letters, digits and . _ : / + = ~ - (optionally in double quotes)',
    )
    .optional()
    .meta({
      description:
        'additive: a retry with the same key (per sender, within IDEMPOTENCY_TTL_MS) returns the first result and queues nothing ' +
        '(answer header `Idempotent-Replayed: true`); the same key with a different request is 422 idempotency_key_mismatch',
      example: '0f8fad5b-d9cb-469f-a165-70867728950e',
    }),
});

/** The key and the request's fingerprint, or undefined when the request carries no key. */
export function idempotencyOf(
  headers: Record<string, string | string[] | undefined>,
  kind: 'send' | 'request',
  parts: unknown[],
): IdempotencyInput | undefined {
  const key = parseIdempotencyKey(headers['idempotency-key']);
  return key === undefined ? undefined : { key, fingerprint: fingerprint(kind, parts) };
}

/** Set on answers that repeat an earlier result of the same key. */
export const REPLAYED_HEADER = 'idempotent-replayed';
