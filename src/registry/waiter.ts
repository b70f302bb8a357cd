// Waiting for a wake-up without missing one (long-polls, SSE streams, the events feed): arm() before
// each read of Redis, sleep() after a read that found nothing. A poke that lands between the two
// makes sleep() return at once, so a message sent right after a read still wakes the reader.

export class Waiter {
  private woken = false;
  private wakeUp: (() => void) | null = null;

  constructor(
    /** Ends the subscription that pokes this waiter. */
    private readonly unsubscribe: () => void,
    /** Shutting down: sleep() returns at once. */
    private readonly stopping: () => boolean,
  ) {}

  /** Something may have changed (a wake notice, the client leaving, shutdown). */
  poke(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Call before each read: pokes from now on end the next sleep. */
  arm(): void {
    this.woken = false;
  }

  /** Resolves on a poke (possibly one since arm()), at `deadline` (epoch ms), or on shutdown. */
  sleep(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    if (this.woken || this.stopping()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        this.wakeUp = null;
        resolve();
      };
      if (Number.isFinite(deadline)) timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      this.wakeUp = done;
    });
  }

  /** Unsubscribes and ends a sleep in progress. */
  close(): void {
    this.unsubscribe();
    this.wakeUp?.();
  }
}
