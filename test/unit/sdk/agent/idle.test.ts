import { describe, expect, it } from 'vitest';
import { IdleWait } from '../../../../sdk/src/agent/idle.js';

describe('IdleWait', () => {
  it('ends at its timeout, or earlier on wake()', async () => {
    const idle = new IdleWait();
    let started = Date.now();
    await idle.wait(30, () => false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    started = Date.now();
    const waiting = idle.wait(60_000, () => false);
    idle.wake();
    await waiting;
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('does not wait when stopped, and a wake() between waits is not kept', async () => {
    const idle = new IdleWait();
    await idle.wait(60_000, () => true);
    idle.wake();
    const started = Date.now();
    await idle.wait(30, () => false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });
});
