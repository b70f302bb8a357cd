// register.lua: registers an instance or refreshes a live one (see the script's header).
import type { MeshKeys } from '../keys.js';
import type { ScriptArg, ScriptRunner } from '../script-runner.js';
import { flag, rowOf, stringOrNull, tableOf, type InstanceRow, type LeaderSeen } from './decode.js';
import { ReplyCode, replyCode } from './reply-codes.js';

export interface RegisterCall {
  id: string;
  hostname: string;
  port: number;
  capabilities: string[];
  profiles: string[];
  staleTimeoutMs: number;
  eventsMaxlen: number;
  /** How long the record key outlives its deadline (a backstop when maintenance does not run). */
  recordGraceMs: number;
  /** Token hash stored with a new registration ('' = none). */
  newTokenHash: string;
  /** Token hash the caller presented ('' = none). */
  presentedHash: string;
  /** A live id may only be re-registered by its token holder. */
  enforceOwner: boolean;
  /** The A2A card: its JSON (staged by a plain SET, never through Lua), digest and skill index. */
  card: { json: string; digest: string; index: string[] } | null;
}

export type RegisterReply =
  | (LeaderSeen & {
      code: typeof ReplyCode.Ok;
      created: boolean;
      joinSeq: number;
      /** The caller's own row, for read-your-writes in the answer. */
      row: InstanceRow;
      /** The namespace's epoch (data-loss.ts). */
      epoch: string | null;
    })
  | { code: typeof ReplyCode.IdInUse };

/** How long a staged card may wait for the script (it matters only if the script never runs). */
const STAGED_CARD_TTL_MS = 60_000;

export const registerKeys = (k: MeshKeys, id: string): string[] => [
  k.inst(id),
  k.deadlines,
  k.joined,
  k.leader,
  k.term,
  k.seq,
  k.events,
  k.tokens,
  k.agentCard(id),
  k.agentCardIncoming,
  k.epoch,
];

export async function register(scripts: ScriptRunner, k: MeshKeys, c: RegisterCall): Promise<RegisterReply> {
  const args: ScriptArg[] = [
    k.prefix,
    c.id,
    c.hostname,
    c.port,
    JSON.stringify(c.capabilities),
    JSON.stringify(c.profiles),
    c.staleTimeoutMs,
    c.eventsMaxlen,
    c.newTokenHash,
    c.presentedHash,
    c.enforceOwner ? '1' : '0',
    c.recordGraceMs,
    JSON.stringify(c.card?.index ?? []),
    c.card?.digest ?? '',
  ];
  const keys = registerKeys(k, c.id);
  // The card's JSON goes to Redis by a plain SET in the same MULTI; the script moves it into place.
  const raw = c.card
    ? await scripts.runAfter([['set', k.agentCardIncoming, c.card.json, 'PX', STAGED_CARD_TTL_MS]], 'register', keys, args)
    : await scripts.run('register', keys, args);
  const r = tableOf('register', raw);
  const code = replyCode('register', r[0], [ReplyCode.Ok, ReplyCode.IdInUse]);
  if (code === ReplyCode.IdInUse) return { code };
  return {
    code,
    leaderId: stringOrNull(r[1]),
    term: Number(r[2]),
    created: flag(r[3]),
    joinSeq: Number(r[4]),
    leaderChanged: flag(r[5]),
    row: rowOf(r[6]),
    epoch: stringOrNull(r[7]),
  };
}
