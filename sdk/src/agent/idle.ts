// The message loop's pause when there is nothing it can do yet: a timed wait that finishing work
// (a handler, an ack) cuts short.

export class IdleWait {
  private wakeUp: (() => void) | null = null;

  /** Resolves after `ms`, at the next wake(), or at once when `stopped()`. */
  wait(ms: number, stopped: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
      if (stopped()) done();
    });
  }

  /** Ends the wait in progress, if any (nothing happens between waits). */
  wake(): void {
    this.wakeUp?.();
  }
}
