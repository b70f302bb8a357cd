// counters.lua: the mesh-wide counters at one moment of Redis time.
import type { MeshKeys } from '../keys.js';
import type { ScriptRunner } from '../script-runner.js';
import { tableOf } from './decode.js';

export interface CounterSample {
  /** Redis TIME in ms when the counters were read: rates divide by differences of it. */
  now: number;
  sent: number;
  acked: number;
  cleanupRuns: number;
}

export const countersKeys = (k: MeshKeys): string[] => [k.msgseq, k.counters];

export async function readCounters(scripts: ScriptRunner, k: MeshKeys): Promise<CounterSample> {
  const [now, sent, acked, cleanupRuns] = tableOf('counters', await scripts.run('counters', countersKeys(k), []));
  return { now: Number(now), sent: Number(sent), acked: Number(acked), cleanupRuns: Number(cleanupRuns) };
}
