import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../sdk/src/backoff.js';

describe('backoffDelay', () => {
  it('is full jitter below base * 2^(n-1), capped', () => {
    expect(backoffDelay(1, 200, 5000, () => 0.999)).toBe(199);
    expect(backoffDelay(3, 200, 5000, () => 0.5)).toBe(400);
    expect(backoffDelay(10, 200, 5000, () => 0.999)).toBe(4995);
    expect(backoffDelay(4, 200, 5000, () => 0)).toBe(0);
    expect(backoffDelay(0, 200, 5000, () => 0.5)).toBe(100);
  });
});
