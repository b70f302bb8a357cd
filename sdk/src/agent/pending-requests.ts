// request()'s waiting side: a Response is matched to the call that waits for it by correlation id,
// whichever message loop fetch brings it.
import { MeshTimeoutError } from '../errors.js';
import type { AgentMessage } from '../types.js';

interface Waiting {
  resolve(m: AgentMessage): void;
  reject(e: Error): void;
}

export class PendingRequests {
  private readonly waiting = new Map<string, Waiting>();

  /**
   * The Response with `correlationId`, or MeshTimeoutError after `timeoutMs`. Call `done()` when
   * the answer is no longer wanted (it also stops the timer). An unobserved rejection stays quiet.
   */
  wait(correlationId: string, timeoutMs: number): { answer: Promise<AgentMessage>; done(): void } {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answer = new Promise<AgentMessage>((resolve, reject) => {
      this.waiting.set(correlationId, { resolve, reject });
      timer = setTimeout(() => {
        this.waiting.delete(correlationId);
        reject(new MeshTimeoutError(`no Response to ${correlationId} within ${timeoutMs} ms`, correlationId));
      }, timeoutMs);
    });
    // E.g. a timeout while the send is still failing: the caller sees the send's error instead.
    answer.catch(() => undefined);
    return {
      answer,
      done: () => {
        clearTimeout(timer);
        this.waiting.delete(correlationId);
      },
    };
  }

  /** Hands `m` to the call waiting for it, if it is a Response somebody waits for. */
  take(m: AgentMessage): boolean {
    if (m.message_type !== 'Response' || m.correlation_id === null) return false;
    const w = this.waiting.get(m.correlation_id);
    if (!w) return false;
    this.waiting.delete(m.correlation_id);
    w.resolve(m);
    return true;
  }

  /** Every waiting call fails with `err` (the agent closes). */
  rejectAll(err: () => Error): void {
    for (const w of this.waiting.values()) w.reject(err());
    this.waiting.clear();
  }
}
