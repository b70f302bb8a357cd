// Idempotency-Key on POST /messages/send and /messages/request: a retry of an ambiguous failure
// (timeout, 502/503, a command that timed out in the replica but ran in Redis later) with the same
// key returns the first send's result and queues nothing, on any replica.
//
// - Scope: per sender (source instance) and key, for IDEMPOTENCY_TTL_MS from the first send.
// - Where: `P idem:<source>/<key>`, written by send.lua in the same atomic step as the message
//   itself (so "queued" and "remembered" cannot part), read by send.lua before anything else (so
//   a retry finds it even when the target has left since). The record is small: the fingerprint,
//   the message id, the send's own reply (target, or a broadcast's moment) - never a body, never
//   a list of recipients. `/` separates the parts: instance ids cannot contain it.
// - Same key, different request (fingerprint): 422 idempotency_key_mismatch. The fingerprint is a
//   sha256 of the fields that decide what is sent, in the order the client sent them.
// - Server-side request/response also remembers its final answer (`P idemr:<source>/<key>`, plain
//   SET: it holds the Response's body), so a retry after the answer got lost returns it again.
import { createHash } from 'node:crypto';
import type { AgentMessage } from './types.js';
import type { SendResult } from './messages.js';

/** Letters, digits and `. _ : / + = ~ -` (UUIDs, ULIDs, base64), 1-255 characters. */
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9._:/+=~-]{1,255}$/;

export interface IdempotencyInput {
  key: string;
  /** sha256 hex of what the request asks for (see fingerprint). */
  fingerprint: string;
}

/** The header's value: a token, or a Structured Field string (`"..."`, as the IETF draft has it). */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined || Array.isArray(header)) return undefined;
  const v = header.length >= 2 && header.startsWith('"') && header.endsWith('"') ? header.slice(1, -1) : header;
  return IDEMPOTENCY_KEY_PATTERN.test(v) ? v : undefined;
}

/** What a send or request asks for, as a digest: the same request again gives the same one. */
export function fingerprint(kind: 'send' | 'request', parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify([kind, ...parts])).digest('hex');
}

/** A first send's record as send.lua stores it. */
export interface IdempotencyRecord {
  /** fingerprint */
  f: string;
  /** message id */
  m: string;
  /** 'direct' | 'broadcast' */
  k: string;
  /** what the caller attached (a server-side request: its correlation id), '' if nothing */
  x: string;
  /** send.lua's success reply (direct: code, 0, target; broadcast: code, 0, bseq, join seq, events id, lapsed...) */
  r: (string | number)[];
}

/** The final answer of a server-side request, remembered for retries. */
export interface RequestAnswer {
  f: string;
  request: SendResult;
  response: AgentMessage;
}

export const recordKey = (prefix: string, source: string, key: string): string => `${prefix}idem:${source}/${key}`;
export const answerKey = (prefix: string, source: string, key: string): string => `${prefix}idemr:${source}/${key}`;

export function decodeRecord(raw: string): IdempotencyRecord {
  return JSON.parse(raw) as IdempotencyRecord;
}
