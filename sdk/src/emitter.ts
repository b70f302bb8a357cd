// A small typed event emitter. MeshAgent does not extend node:events' EventEmitter because its
// published types would then need @types/node, which agent projects need not have.

type Listener<A extends unknown[]> = (...args: A) => void;
type AnyListener = (...args: unknown[]) => void;

export class TypedEmitter<Events extends { [K in keyof Events]: unknown[] }> {
  private readonly listeners = new Map<keyof Events, Set<AnyListener>>();

  /** Called with a listener error; by default it is rethrown outside the emitting code. */
  constructor(private readonly onListenerError: (err: unknown, event: keyof Events) => void = rethrowLater) {}

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as unknown as AnyListener);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(listener as unknown as AnyListener);
  }

  has<K extends keyof Events>(event: K, listener: Listener<Events[K]>): boolean {
    return this.listeners.get(event)?.has(listener as unknown as AnyListener) ?? false;
  }

  count(event: keyof Events): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /** Calls the listeners in the order they were added; true when there was at least one. */
  emit<K extends keyof Events>(event: K, ...args: Events[K]): boolean {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return false;
    for (const listener of [...set]) {
      try {
        (listener as unknown as Listener<Events[K]>)(...args);
      } catch (err) {
        this.onListenerError(err, event);
      }
    }
    return true;
  }

  clear(event?: keyof Events): void {
    if (event === undefined) this.listeners.clear();
    else this.listeners.delete(event);
  }
}

/** Like an exception thrown from a Node EventEmitter listener: it surfaces, it does not vanish. */
function rethrowLater(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}
