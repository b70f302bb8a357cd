// is-live.lua: whether a member's deadline is after Redis TIME.
import type { MeshKeys } from '../keys.js';
import type { ScriptRunner } from '../script-runner.js';

export const isLiveKeys = (k: MeshKeys): string[] => [k.deadlines];

export async function isLive(scripts: ScriptRunner, k: MeshKeys, id: string): Promise<boolean> {
  return (await scripts.run('is-live', isLiveKeys(k), [id])) === 1;
}
