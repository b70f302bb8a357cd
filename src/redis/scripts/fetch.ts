// fetch.lua: one bounded page of what a member has not acknowledged (metadata only; the bodies are
// read with plain HMGETs by the registry).
import type { MeshKeys } from '../keys.js';
import type { ScriptRunner } from '../script-runner.js';
import { flag, tableOf } from './decode.js';
import { ReplyCode, replyCode } from './reply-codes.js';

export interface FetchCall {
  id: string;
  /** Entries at most. */
  limit: number;
  /** Bytes of bodies at most (see `force`). */
  budget: number;
  /** Message TTL (0 = keep). */
  ttlMs: number;
  /** Inbox cursor: stream id, exclusive ('' = start). */
  inboxAfter: string;
  /** Broadcast cursor: bseq, exclusive ('' = start). */
  broadcastAfter: string;
  /** Take the first entry whatever its size (the answer is still empty). */
  force: boolean;
}

/** One pending message, as the script describes it. */
export interface FetchItem {
  /** i: targeted (inbox), b: broadcast. */
  kind: 'i' | 'b';
  messageId: string;
  /** inbox: stream id; broadcast: bseq */
  ref: string;
  /** Send sequence: orders inbox and broadcasts against each other. */
  seq: number;
  bytes: number;
  createdMs: number;
}

export type FetchReply =
  | {
      code: typeof ReplyCode.Ok;
      /** Expired messages dropped on the way. */
      expired: number;
      more: boolean;
      next: { inbox: string; broadcast: string };
      items: FetchItem[];
    }
  | { code: typeof ReplyCode.NotLive; expired: number };

export const fetchKeys = (k: MeshKeys, id: string): string[] => [k.deadlines, k.broadcast, k.inst(id), k.broadcastPending(id), k.inbox(id)];

export async function fetchPage(scripts: ScriptRunner, k: MeshKeys, c: FetchCall): Promise<FetchReply> {
  const r = tableOf(
    'fetch',
    await scripts.run('fetch', fetchKeys(k, c.id), [
      k.prefix,
      c.id,
      c.limit,
      c.budget,
      c.ttlMs,
      c.inboxAfter,
      c.broadcastAfter,
      c.force ? '1' : '0',
    ]),
  );
  const code = replyCode('fetch', r[0], [ReplyCode.Ok, ReplyCode.NotLive]);
  const expired = Number(r[1]);
  if (code === ReplyCode.NotLive) return { code, expired };
  const items = r.slice(5).map((item): FetchItem => {
    const [kind, messageId, ref, seq, bytes, createdMs] = item as unknown[];
    return {
      kind: kind === 'b' ? 'b' : 'i',
      messageId: String(messageId),
      ref: String(ref),
      seq: Number(seq),
      bytes: Number(bytes),
      createdMs: Number(createdMs),
    };
  });
  return { code, expired, more: flag(r[2]), next: { inbox: String(r[3]), broadcast: String(r[4]) }, items };
}
