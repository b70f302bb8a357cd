// send.lua: queues one message's metadata (direct or broadcast), its Idempotency-Key checked first.
// The body goes to Redis by a plain HSET in the same MULTI, never through Lua.
import type { MeshKeys } from '../keys.js';
import type { ScriptArg, ScriptRunner } from '../script-runner.js';
import { tableOf } from './decode.js';
import { ReplyCode, ScriptReplyError, replyCode } from './reply-codes.js';

/** An Idempotency-Key on a send: checked, then remembered with the message (send.lua's ARGV[10..13]). */
export interface KeyedArgs {
  key: string;
  fingerprint: string;
  /** How long the key is remembered. */
  ttlMs: number;
  /** Stored with it (a server-side request's correlation id; '' for none). */
  remember: string;
}

interface SendCall {
  source: string;
  messageId: string;
  /** The stored body's JSON text. */
  body: string;
  inboxMax: number;
  /** Message TTL (0 = keep). */
  ttlMs: number;
  idem: KeyedArgs | null;
}

export interface DirectCall extends SendCall {
  target: string;
}

export interface BroadcastCall extends SendCall {
  /** Lapsed members one call may name at most. */
  lapsedMax: number;
}

/** Where a broadcast was stored: what names its recipients (see src/registry/membership.ts). */
export interface BroadcastMoment {
  bseq: number;
  /** Members with a join sequence up to this had joined. */
  joinSeq: number;
  /** The events feed's position. */
  eventsId: string;
  /** Members lapsed at that moment. */
  lapsed: string[];
}

/** The success reply a key remembers: what a replay answers. */
export type FirstReply =
  | { mode: 'direct'; code: typeof ReplyCode.Ok; target: string }
  | { mode: 'broadcast'; code: typeof ReplyCode.Ok; moment: BroadcastMoment }
  | { mode: 'broadcast'; code: typeof ReplyCode.NobodyElseLive };

export interface Replay {
  code: typeof ReplyCode.Replayed;
  messageId: string;
  /** What the first send stored with the key. */
  remembered: string;
  first: FirstReply;
}

type KeyMismatch = { code: typeof ReplyCode.KeyMismatch };

export type DirectReply =
  | {
      code: typeof ReplyCode.Ok | typeof ReplyCode.NotLive | typeof ReplyCode.TargetNotLive | typeof ReplyCode.InboxFull;
      /** Expired messages dropped from the target's inbox on the way. */
      expired: number;
    }
  | Replay
  | KeyMismatch;

export type BroadcastReply =
  | { code: typeof ReplyCode.Ok; moment: BroadcastMoment }
  | { code: typeof ReplyCode.NobodyElseLive | typeof ReplyCode.NotLive }
  | { code: typeof ReplyCode.InboxFull; full: string[] }
  | { code: typeof ReplyCode.TooManyLapsed; lapsedCount: number }
  | Replay
  | KeyMismatch;

export const sendKeys = (k: MeshKeys, source: string, target: string, key: string): string[] => [
  k.deadlines,
  k.broadcast,
  k.broadcastIndex,
  k.broadcastBodies,
  k.broadcastSeq,
  k.seq,
  k.events,
  k.broadcastLoad,
  k.idempotency(source, key),
  k.inst(source),
  k.inbox(target),
  k.inboxBodies(target),
];

function args(k: MeshKeys, mode: 'direct' | 'broadcast', c: SendCall, target: string, lapsedMax: number): ScriptArg[] {
  const idem = c.idem ? [c.idem.key, c.idem.fingerprint, c.idem.ttlMs, c.idem.remember] : ['', '', 0, ''];
  return [k.prefix, mode, c.source, target, c.messageId, Buffer.byteLength(c.body), c.inboxMax, c.ttlMs, lapsedMax, ...idem];
}

function momentOf(r: unknown[]): BroadcastMoment {
  const [, , bseq, joinSeq, eventsId, lapsedCount, ...lapsed] = r;
  if (lapsed.length !== Number(lapsedCount)) throw new ScriptReplyError('send', 'a lapsed list whose length is not its count');
  return { bseq: Number(bseq), joinSeq: Number(joinSeq), eventsId: String(eventsId), lapsed: lapsed.map(String) };
}

/** A key's remembered success reply (`r` of the record, see src/registry/idempotency.ts). */
export function decodeFirstReply(mode: string, r: readonly unknown[]): FirstReply {
  if (mode === 'broadcast') {
    const code = replyCode('send', r[0], [ReplyCode.Ok, ReplyCode.NobodyElseLive]);
    return code === ReplyCode.Ok ? { mode, code, moment: momentOf([...r]) } : { mode, code };
  }
  return { mode: 'direct', code: replyCode('send', r[0], [ReplyCode.Ok]), target: String(r[2]) };
}

function replay(r: unknown[]): Replay {
  const [, , messageId, remembered, mode, ...first] = r;
  return {
    code: ReplyCode.Replayed,
    messageId: String(messageId),
    remembered: String(remembered),
    first: decodeFirstReply(String(mode), first),
  };
}

export async function sendDirect(scripts: ScriptRunner, k: MeshKeys, c: DirectCall): Promise<DirectReply> {
  const raw = await scripts.runAfter(
    [['hset', k.inboxBodies(c.target), c.messageId, c.body]],
    'send',
    sendKeys(k, c.source, c.target, c.idem?.key ?? ''),
    args(k, 'direct', c, c.target, 0),
  );
  const r = tableOf('send', raw);
  const code = replyCode('send', r[0], [
    ReplyCode.Ok,
    ReplyCode.NotLive,
    ReplyCode.TargetNotLive,
    ReplyCode.InboxFull,
    ReplyCode.Replayed,
    ReplyCode.KeyMismatch,
  ]);
  if (code === ReplyCode.Replayed) return replay(r);
  if (code === ReplyCode.KeyMismatch) return { code };
  return { code, expired: Number(r[1]) };
}

export async function sendBroadcast(scripts: ScriptRunner, k: MeshKeys, c: BroadcastCall): Promise<BroadcastReply> {
  const raw = await scripts.runAfter(
    [['hset', k.broadcastBodies, c.messageId, c.body]],
    'send',
    sendKeys(k, c.source, '', c.idem?.key ?? ''),
    args(k, 'broadcast', c, '', c.lapsedMax),
  );
  const r = tableOf('send', raw);
  const code = replyCode('send', r[0], [
    ReplyCode.Ok,
    ReplyCode.NobodyElseLive,
    ReplyCode.NotLive,
    ReplyCode.InboxFull,
    ReplyCode.TooManyLapsed,
    ReplyCode.Replayed,
    ReplyCode.KeyMismatch,
  ]);
  switch (code) {
    case ReplyCode.Ok:
      return { code, moment: momentOf(r) };
    case ReplyCode.InboxFull:
      return { code, full: r.slice(2).map(String) };
    case ReplyCode.TooManyLapsed:
      return { code, lapsedCount: Number(r[2]) };
    case ReplyCode.Replayed:
      return replay(r);
    default:
      return { code };
  }
}
