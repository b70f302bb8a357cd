// route.lua: picks the least-loaded live holder of a capability (or A2A skill) in a bounded window.
import type { MeshKeys } from '../keys.js';
import type { ScriptRunner } from '../script-runner.js';
import { tableOf } from './decode.js';
import { ReplyCode, replyCode } from './reply-codes.js';

export interface RouteCall {
  capability: string;
  source: string;
  inboxMax: number;
  /** Live holders compared at most. */
  window: number;
  /** Index entries examined at most. */
  scan: number;
}

export type RouteReply =
  | { code: typeof ReplyCode.Ok; target: string }
  | { code: typeof ReplyCode.NotLive | typeof ReplyCode.InboxFull | typeof ReplyCode.NoHolder | typeof ReplyCode.HoldersLapsed };

// Holders of the capability, the rotation counter, and members whose A2A card has a skill of that id or tag.
export const routeKeys = (k: MeshKeys, capability: string): string[] => [k.cap(capability), k.roundRobin, k.skill(capability)];

export async function route(scripts: ScriptRunner, k: MeshKeys, c: RouteCall): Promise<RouteReply> {
  const r = tableOf('route', await scripts.run('route', routeKeys(k, c.capability), [k.prefix, c.source, c.inboxMax, c.window, c.scan]));
  const code = replyCode('route', r[0], [
    ReplyCode.Ok,
    ReplyCode.NotLive,
    ReplyCode.InboxFull,
    ReplyCode.NoHolder,
    ReplyCode.HoldersLapsed,
  ]);
  return code === ReplyCode.Ok ? { code, target: String(r[1]) } : { code };
}
