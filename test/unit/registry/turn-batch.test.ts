import { describe, expect, it } from 'vitest';
import { TurnBatcher } from '../../../src/registry/turn-batch.js';

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

describe('TurnBatcher', () => {
  it('hands everything added in one turn to one flush, on the next turn, in order', async () => {
    const batches: number[][] = [];
    const b = new TurnBatcher<number>((items) => batches.push(items));
    b.add(1);
    b.add(2);
    b.add(3);
    expect(batches).toEqual([]);
    await nextTurn();
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('splits a turn into batches of at most maxBatch', async () => {
    const batches: number[][] = [];
    const b = new TurnBatcher<number>((items) => batches.push(items), 2);
    for (let i = 0; i < 5; i++) b.add(i);
    await nextTurn();
    expect(batches).toEqual([[0, 1], [2, 3], [4]]);
  });

  it('starts a new batch for items added after a flush', async () => {
    const batches: string[][] = [];
    const b = new TurnBatcher<string>((items) => batches.push(items));
    b.add('a');
    await nextTurn();
    b.add('b');
    b.add('c');
    await nextTurn();
    expect(batches).toEqual([['a'], ['b', 'c']]);
  });

  it('items added while flushing go to the next turn', async () => {
    const batches: number[][] = [];
    const b: TurnBatcher<number> = new TurnBatcher<number>((items) => {
      batches.push(items);
      if (items[0] === 1) b.add(2);
    });
    b.add(1);
    await nextTurn();
    expect(batches).toEqual([[1]]);
    await nextTurn();
    expect(batches).toEqual([[1], [2]]);
  });
});
