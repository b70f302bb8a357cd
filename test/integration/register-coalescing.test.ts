// Concurrent registrations share the peer listing (InstanceService.listingAfterNow): every answer
// still lists its caller and everything registered before it, but Redis runs far fewer listings.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerBody, startMesh, type TestMesh } from '../helpers/app.js';

let mesh: TestMesh;

beforeAll(async () => {
  mesh = await startMesh();
});
afterAll(async () => mesh.close());

describe('register under a burst', () => {
  it('every answer lists its caller and earlier registrations, with fewer listings than registrations', async () => {
    const app = mesh.apps[0]!;
    const list = vi.spyOn(app.mesh.instances, 'list');
    try {
      const n = 60;
      const ids = Array.from({ length: n }, (_, i) => `burst-${i}`);
      const answers = await Promise.all(
        ids.map(async (id) => {
          const res = await app.inject({ method: 'POST', url: '/registry/register', payload: registerBody(id) });
          expect(res.statusCode).toBe(200);
          return { id, body: res.json() as { leader_id: string | null; peers: { instance_id: string; is_leader: boolean }[] } };
        }),
      );
      for (const { id, body } of answers) {
        const peers = body.peers.map((p) => p.instance_id);
        expect(peers).toContain(id);
        // leader_id and is_leader come from the same listing.
        for (const p of body.peers) expect(p.is_leader).toBe(p.instance_id === body.leader_id);
      }
      // A registration that finished before another started is among the later one's peers.
      const late = await app.inject({ method: 'POST', url: '/registry/register', payload: registerBody('after-burst') });
      expect(late.json().peers.map((p: { instance_id: string }) => p.instance_id)).toEqual(expect.arrayContaining([...ids, 'after-burst']));
      // 61 registrations; without sharing each would have run its own listing.
      expect(list.mock.calls.length).toBeLessThan(n);
    } finally {
      list.mockRestore();
    }
  });
});
