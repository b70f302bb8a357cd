// live-count.lua: the number of live members (one ZCOUNT against Redis TIME).
import type { MeshKeys } from '../keys.js';
import type { ScriptRunner } from '../script-runner.js';

export const liveCountKeys = (k: MeshKeys): string[] => [k.deadlines];

export async function liveCount(scripts: ScriptRunner, k: MeshKeys): Promise<number> {
  return Number(await scripts.run('live-count', liveCountKeys(k), []));
}
