// The status codes of script replies: one meaning per number across every script, mirrored from
// lua/includes/codes.lua (test/unit/redis/scripts/reply-codes.test.ts compares the two). replyCode()
// is the one place a number from Redis becomes a ReplyCode: a number a script is not documented to
// return is a bug to report, never a refusal to guess at.
import type { ScriptName } from '../script-runner.js';

export const ReplyCode = {
  Ok: 1,
  /** broadcast: stored nothing, nobody else is live */
  NobodyElseLive: 2,
  /** the Idempotency-Key was used: the first send's reply follows, nothing was queued now */
  Replayed: 3,
  /** the acting member (the caller's id, a send's source) is unknown or its heartbeat lapsed */
  NotLive: -1,
  TargetNotLive: -2,
  InboxFull: -3,
  /** no live holder of the capability (or A2A skill) */
  NoHolder: -4,
  /** more lapsed members await cleanup than one broadcast may name */
  TooManyLapsed: -5,
  /** only lapsed holders among the entries examined: clean up and try again */
  HoldersLapsed: -6,
  /** the Idempotency-Key was used for a different request */
  KeyMismatch: -7,
  /** the id is registered and live, and the caller lacks its instance token */
  IdInUse: -8,
  /** the caller's instance token is not the member's */
  NotOwner: -9,
} as const;

export type ReplyCode = (typeof ReplyCode)[keyof typeof ReplyCode];

/** A script answered something its header does not promise (a mismatch between Lua and wrapper). */
export class ScriptReplyError extends Error {
  constructor(script: ScriptName, what: string) {
    super(`script ${script} replied ${what}`);
    this.name = 'ScriptReplyError';
  }
}

/** The reply's status as one of the codes `script` may return; anything else throws ScriptReplyError. */
export function replyCode<C extends ReplyCode>(script: ScriptName, raw: unknown, expected: readonly C[]): C {
  const n = Number(raw);
  if (!(expected as readonly number[]).includes(n)) throw new ScriptReplyError(script, `with unexpected code ${String(raw)}`);
  return n as C;
}
