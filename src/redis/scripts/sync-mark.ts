// sync-mark.lua and WAIT: the replica-sync barrier (src/registry/replica-sync.ts). The marker and the
// WAIT go in one pipeline on one connection, so the WAIT covers everything the master had applied
// when the marker ran; on Cluster the marker's key routes the keyless WAIT to the namespace's master.
import type { MeshKeys } from '../keys.js';
import type { ScriptRunner } from '../script-runner.js';

export const syncMarkKeys = (k: MeshKeys): string[] => [k.syncMark];

/** The number of replicas that confirmed (WAIT's answer). Throws when the pipeline failed. */
export async function markAndWait(scripts: ScriptRunner, k: MeshKeys, replicas: number, timeoutMs: number): Promise<number> {
  const keys = syncMarkKeys(k);
  const replies = await scripts.client
    .pipeline()
    .eval(scripts.source('sync-mark'), keys.length, ...keys)
    .wait(replicas, timeoutMs)
    .exec();
  if (!replies) throw new Error('Connection is closed.');
  const failed = replies.find(([err]) => err !== null)?.[0];
  if (failed) throw failed;
  return Number(replies[1]![1]);
}
