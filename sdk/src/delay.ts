// Abortable sleeps on node:timers/promises. An abort rejects with the signal's reason (e.g. the
// agent's MeshClosedError) rather than the timers module's generic AbortError, so callers can
// tell why they stopped.
import { setTimeout as wait } from 'node:timers/promises';

export async function delay(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await wait(ms, undefined, signal ? { signal } : {});
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
}
