import { describe, expect, it } from 'vitest';
import { Waiter } from '../../../src/registry/waiter.js';

const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false;
  void p.then(() => (done = true));
  await new Promise<void>((r) => setImmediate(r));
  return done;
};

describe('Waiter', () => {
  it('a poke between arm() and sleep() is not lost: sleep returns at once', async () => {
    const w = new Waiter(
      () => undefined,
      () => false,
    );
    w.arm();
    w.poke();
    expect(await settled(w.sleep())).toBe(true);
  });

  it('arm() forgets pokes from before the read', async () => {
    const w = new Waiter(
      () => undefined,
      () => false,
    );
    w.poke();
    w.arm();
    const sleeping = w.sleep();
    expect(await settled(sleeping)).toBe(false);
    w.poke();
    expect(await settled(sleeping)).toBe(true);
  });

  it('sleep ends at its deadline', async () => {
    const w = new Waiter(
      () => undefined,
      () => false,
    );
    w.arm();
    const started = Date.now();
    await w.sleep(Date.now() + 30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('never sleeps while stopping, and close() unsubscribes and ends a sleep', async () => {
    expect(
      await settled(
        new Waiter(
          () => undefined,
          () => true,
        ).sleep(),
      ),
    ).toBe(true);
    let unsubscribed = 0;
    const w = new Waiter(
      () => unsubscribed++,
      () => false,
    );
    w.arm();
    const sleeping = w.sleep();
    w.close();
    expect(await settled(sleeping)).toBe(true);
    expect(unsubscribed).toBe(1);
  });
});
