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
import { errors } from '../errors.js';
import { decodeFirstReply, type Replay } from '../redis/scripts/send.js';
import { writeScripts, type RegistryContext } from './context.js';
import type { AgentMessage } from './types.js';
import type { SendResult } from './message-send.js';

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
  return createHash('sha256')
    .update(JSON.stringify([kind, ...parts]))
    .digest('hex');
}

/** A first send's record as send.lua stores it. */
interface IdempotencyRecord {
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

/** What the first send of a key did: its message id, what it remembered, its reply. */
export type FirstSend = Omit<Replay, 'code'>;

/** Reads (and, for server-side requests, writes) what keys remember; plain commands, never Lua. */
export class IdempotencyStore {
  constructor(private readonly ctx: Pick<RegistryContext, 'config' | 'keys' | 'scripts' | 'sync'>) {}

  /** The first send of `idem.key` by `source`, if any (422 when it was for a different request). */
  async firstSend(source: string, idem: IdempotencyInput): Promise<FirstSend | null> {
    // On the connection of acknowledged writes: it must see what an earlier attempt wrote there.
    const raw = await writeScripts(this.ctx).client.get(this.ctx.keys.idempotency(source, idem.key));
    if (raw === null) return null;
    const record = JSON.parse(raw) as IdempotencyRecord;
    if (record.f !== idem.fingerprint) throw errors.idempotencyKeyMismatch(idem.key);
    return { messageId: record.m, remembered: record.x, first: decodeFirstReply(record.k, record.r) };
  }

  /** A keyed server-side request's remembered answer (422 when the key was for another request). */
  async storedAnswer(source: string, idem: IdempotencyInput): Promise<RequestAnswer | null> {
    const raw = await writeScripts(this.ctx).client.get(this.ctx.keys.idempotencyAnswer(source, idem.key));
    if (raw === null) return null;
    const answer = JSON.parse(raw) as RequestAnswer;
    if (answer.f !== idem.fingerprint) throw errors.idempotencyKeyMismatch(idem.key);
    return answer;
  }

  /** A plain SET (it holds the Response's body: never through Lua), for the key's window. */
  async storeAnswer(source: string, idem: IdempotencyInput, answer: RequestAnswer): Promise<void> {
    const key = this.ctx.keys.idempotencyAnswer(source, idem.key);
    await writeScripts(this.ctx).client.set(key, JSON.stringify(answer), 'PX', this.ctx.config.IDEMPOTENCY_TTL_MS);
  }
}
