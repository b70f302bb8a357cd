// One call of `fn` at a time, shared by every caller that asks while it is in flight; the next ask
// after it settled starts a fresh call. Registrations arriving together share one page of peers this
// way: a fleet re-registering at once costs Redis one bounded read per round trip, not one per agent.

export function sharedInFlight<T>(fn: () => Promise<T>): () => Promise<T> {
  let current: Promise<T> | null = null;
  return () => {
    if (current) return current;
    const call = fn();
    current = call;
    const done = () => {
      if (current === call) current = null;
    };
    call.then(done, done);
    return call;
  };
}
