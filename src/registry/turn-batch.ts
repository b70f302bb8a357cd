// Work handed in during one event-loop turn, done together on the next (setImmediate): the
// heartbeats that reach a replica at once renew in one script call, the writes acknowledged at once
// share one replica-sync barrier. Alone, an item waits one setImmediate (microseconds).

export class TurnBatcher<T> {
  private pending: T[] = [];

  constructor(
    /** Gets each batch, in the order the items were added. */
    private readonly flush: (items: T[]) => void,
    /** Items per batch at most; a larger turn is split into several batches. */
    private readonly maxBatch = Number.POSITIVE_INFINITY,
  ) {}

  add(item: T): void {
    this.pending.push(item);
    if (this.pending.length === 1) setImmediate(() => this.drain());
  }

  private drain(): void {
    const items = this.pending;
    this.pending = [];
    for (let i = 0; i < items.length; i += this.maxBatch) this.flush(items.slice(i, i + this.maxBatch));
  }
}
