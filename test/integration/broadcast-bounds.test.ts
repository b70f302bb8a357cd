// Broadcast backlog is bounded per recipient, like an inbox: a slow member blocks only sends that
// would overflow its own backlog (and is named in the 429), and the sender's own broadcasts never
// count against anybody.
import { describe, expect, it } from 'vitest';
import { meshPerTest, register } from '../helpers/app.js';
import { ack, fetchMessages, send, sendBody, sendRaw } from '../helpers/messages.js';
import type { ErrorBody } from '../../sdk/src/types.js';

const startMesh = meshPerTest();

describe('broadcast backlog bounds', () => {
  it('a member that does not fetch blocks only once its own backlog is full, and is named', async () => {
    const mesh = await startMesh({ INBOX_MAX: 3 });
    const app = mesh.apps[0]!;
    for (const id of ['src', 'slow', 'fast']) await register(app, id);
    for (let i = 0; i < 3; i++) {
      expect((await send(app, 'src', sendBody(null, i))).delivered_to.sort()).toEqual(['fast', 'slow']);
      const got = await fetchMessages(app, 'fast');
      await ack(
        app,
        'fast',
        got.map((m) => m.message_id),
      );
    }
    const blocked = await sendRaw(app, 'src', sendBody(null, 'x'));
    expect(blocked.statusCode).toBe(429);
    expect(blocked.headers['retry-after']).toBe('1');
    expect(blocked.json()).toMatchObject({ code: 'inbox_full', full: ['slow'] });
    expect(blocked.json<ErrorBody>().error).toContain("'slow'");
    // Nothing was stored for the refused send.
    expect(await mesh.redis.xlen(mesh.keys.broadcast)).toBe(3);
    // Reading alone does not free the backlog (at-least-once: pending until acked)...
    const slowGot = await fetchMessages(app, 'slow');
    expect(slowGot).toHaveLength(3);
    expect((await sendRaw(app, 'src', sendBody(null, 'x'))).statusCode).toBe(429);
    // ...acking does.
    await ack(
      app,
      'slow',
      slowGot.map((m) => m.message_id),
    );
    expect((await send(app, 'src', sendBody(null, 'y'))).delivered_to.sort()).toEqual(['fast', 'slow']);
  });

  it("the sender's own broadcasts never fill anybody's backlog, and consumed entries are trimmed", async () => {
    const mesh = await startMesh({ INBOX_MAX: 3 });
    const app = mesh.apps[0]!;
    for (const id of ['talker', 'r1', 'r2']) await register(app, id);
    // The talker never fetches; the others ack everything each round.
    for (let i = 0; i < 10; i++) {
      await send(app, 'talker', sendBody(null, i));
      for (const r of ['r1', 'r2']) {
        const got = await fetchMessages(app, r);
        expect(got.map((m) => m.payload)).toEqual([i]);
        await ack(
          app,
          r,
          got.map((m) => m.message_id),
        );
      }
    }
    expect(await fetchMessages(app, 'talker')).toEqual([]);
    await app.mesh.messages.expireBatch(100);
    expect(await mesh.redis.xlen(mesh.keys.broadcast)).toBe(0);
    expect(await mesh.redis.hlen(mesh.keys.broadcastIndex)).toBe(0);
  });
});
