import { describe, expect, it } from 'vitest';
import { sharedInFlight } from '../../../src/registry/shared-in-flight.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('sharedInFlight', () => {
  it('callers while a call is in flight share it', async () => {
    const calls: ReturnType<typeof deferred<number>>[] = [];
    const get = sharedInFlight(() => {
      const d = deferred<number>();
      calls.push(d);
      return d.promise;
    });
    const a = get();
    const b = get();
    expect(calls).toHaveLength(1);
    calls[0]!.resolve(7);
    expect(await a).toBe(7);
    expect(await b).toBe(7);
  });

  it('the next call after it settled starts afresh, also after a failure', async () => {
    let n = 0;
    const get = sharedInFlight(async () => {
      n++;
      if (n === 1) throw new Error('first fails');
      return n;
    });
    await expect(get()).rejects.toThrow('first fails');
    expect(await get()).toBe(2);
    expect(await get()).toBe(3);
  });
});
