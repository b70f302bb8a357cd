import { useEffect, useState } from 'preact/hooks';
import type { MeshStore } from './store';

/** Re-renders the caller after every (frame-coalesced) change of the store. */
export function useStore(store: MeshStore): void {
  const [, setVersion] = useState(0);
  useEffect(() => store.subscribe(() => setVersion((v) => v + 1)), [store]);
}

/** The current time, refreshed every `everyMs` (heartbeat ages count up between refreshes). */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}
