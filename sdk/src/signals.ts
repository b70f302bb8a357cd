// Closing agents on SIGINT/SIGTERM so they deregister (and their peers learn it at once) instead
// of lingering until the registry evicts them. One process listener per signal serves every
// registered agent; when they are all closed the signal is raised again, so it does what it
// would have done without us (exit), unless the application listens for it itself. A second
// signal while closing gives up waiting and lets the signal through at once.

/** A signal name such as 'SIGINT' or 'SIGTERM'. */
export type SignalName = `SIG${Uppercase<string>}`;

export interface Closeable {
  close(): Promise<void>;
}

const entries = new Map<Closeable, readonly SignalName[]>();
const listeners = new Map<SignalName, () => void>();
let closing = false;

function sync(): void {
  const wanted = new Set([...entries.values()].flat());
  for (const [signal, listener] of listeners) {
    if (!wanted.has(signal)) {
      process.off(signal, listener);
      listeners.delete(signal);
    }
  }
  for (const signal of wanted) {
    if (listeners.has(signal)) continue;
    const listener = () => onSignal(signal);
    listeners.set(signal, listener);
    process.on(signal, listener);
  }
}

function raiseAgain(signal: SignalName): void {
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function onSignal(signal: SignalName): void {
  if (closing) {
    entries.clear();
    sync();
    raiseAgain(signal);
    return;
  }
  closing = true;
  const targets = [...entries].filter(([, signals]) => signals.includes(signal)).map(([target]) => target);
  void Promise.allSettled(targets.map((t) => t.close())).then(() => {
    closing = false;
    for (const t of targets) entries.delete(t);
    sync();
    raiseAgain(signal);
  });
}

/**
 * Closes `targets` (agents, or anything with close()) when the process receives one of
 * `signals`, then lets the signal take its course. Returns a function that undoes the
 * registration (MeshAgent's close() does that for its own `closeOnSignals` option).
 */
export function closeOnSignals(
  targets: Closeable | readonly Closeable[],
  signals: readonly SignalName[] = ['SIGINT', 'SIGTERM'],
): () => void {
  const list: readonly Closeable[] = Array.isArray(targets) ? targets : [targets as Closeable];
  for (const t of list) entries.set(t, [...signals]);
  sync();
  return () => {
    for (const t of list) entries.delete(t);
    sync();
  };
}
