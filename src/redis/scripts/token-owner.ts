// token-owner.lua: which instance an instance token belongs to, and whether it is live now.
import type { MeshKeys } from '../keys.js';
import type { ScriptRunner } from '../script-runner.js';
import { flag, tableOf } from './decode.js';

export const tokenOwnerKeys = (k: MeshKeys): string[] => [k.tokens, k.deadlines];

/** null when no instance holds the token. */
export async function tokenOwner(scripts: ScriptRunner, k: MeshKeys, tokenHash: string): Promise<{ id: string; live: boolean } | null> {
  const [owner, live] = tableOf('token-owner', await scripts.run('token-owner', tokenOwnerKeys(k), [tokenHash]));
  return typeof owner === 'string' ? { id: owner, live: flag(live) } : null;
}
