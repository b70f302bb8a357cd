// The one place domain error codes become HTTP: each code's status, and the headers that go with it
// (Retry-After on answers a client should retry). The body is always `{error, code, ...details}`.
import type { DomainErrorCode, MeshDomainError } from '../errors.js';

interface HttpMapping {
  status: number;
  headers?: (details: Record<string, unknown>) => Record<string, string>;
}

const retryAfter = (seconds: number) => (): Record<string, string> => ({ 'retry-after': String(seconds) });

export const HTTP_STATUS: Readonly<Record<DomainErrorCode, HttpMapping>> = {
  instance_not_found: { status: 404 },
  // The contract's status for a send to an unknown target (spec-ai clients expect 400, not 404).
  target_not_found: { status: 400 },
  source_not_found: { status: 404 },
  no_capable_instance: { status: 400 },
  inbox_full: { status: 429, headers: retryAfter(1) },
  instance_id_in_use: { status: 409 },
  agent_card_not_found: { status: 404 },
  unauthorized: { status: 401 },
  forbidden: { status: 403 },
  timeout: { status: 504 },
  unavailable: { status: 503, headers: retryAfter(1) },
  not_replicated: { status: 503, headers: retryAfter(1) },
  idempotency_key_mismatch: { status: 422 },
  rate_limited: {
    status: 429,
    headers: (d) => ({ 'retry-after': String(Math.max(1, Math.ceil(Number(d.retry_after_ms) / 1000))) }),
  },
  too_many_streams: { status: 429, headers: retryAfter(1) },
  payload_too_large: { status: 413 },
  json_too_deep: { status: 400 },
  // 507, not 503: the replica is healthy; only writes that grow Redis are refused while it is full.
  insufficient_storage: { status: 507, headers: retryAfter(5) },
  console_not_built: { status: 404 },
  not_found: { status: 404 },
};

export interface HttpError {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

export function httpError(err: MeshDomainError): HttpError {
  const m = HTTP_STATUS[err.code];
  return { status: m.status, headers: m.headers?.(err.details) ?? {}, body: { error: err.message, code: err.code, ...err.details } };
}
