// The registry's fast paths answer exactly like the plain ones:
// - concurrent registrations share the peer listing (InstanceService.listingAfterNow): every answer
//   still lists its caller and everything registered before it, but Redis runs far fewer listings;
// - listings reach HTTP as JSON text built from the rows (InstanceService.listJson), which must be
//   the JSON of list()'s objects.
import { describe, expect, it, vi } from 'vitest';
import { heartbeat, meshPerSuite, register, registerBody, startMesh } from '../helpers/app.js';
import { match } from '../helpers/match.js';
import type { RegisterResponse } from '../../sdk/src/types.js';

const mesh = meshPerSuite();

describe('register under a burst', () => {
  it('every answer lists its caller and earlier registrations, with fewer listings than registrations', async () => {
    const app = mesh.apps[0]!;
    const list = vi.spyOn(app.mesh.instances, 'listJson');
    try {
      const n = 60;
      const ids = Array.from({ length: n }, (_, i) => `burst-${i}`);
      const answers = await Promise.all(
        ids.map(async (id) => {
          const res = await app.inject({ method: 'POST', url: '/registry/register', payload: registerBody(id) });
          expect(res.statusCode).toBe(200);
          return { id, body: res.json<{ leader_id: string | null; peers: { instance_id: string; is_leader: boolean }[] }>() };
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
      expect(late.json<RegisterResponse>().peers.map((p) => p.instance_id)).toEqual(match.arrayContaining([...ids, 'after-burst']));
      // 61 registrations; without sharing each would have run its own listing.
      expect(list.mock.calls.length).toBeLessThan(n);
    } finally {
      list.mockRestore();
    }
  });
});

describe('listing as JSON text', () => {
  it('is the JSON of list() for every kind of record, filter and page', async () => {
    const own = await startMesh();
    const app = own.apps[0]!;
    await register(app, 'j-plain', { capabilities: [], agent_profiles: [] });
    await register(app, 'j-ipv6', { hostname: '::1', capabilities: ['code', 'search'], agent_profiles: ['default', 'x@y'] });
    await register(app, 'j-busy', { hostname: 'worker.example.com', port: 65535, capabilities: ['code'] });
    expect(
      (
        await heartbeat(app, 'j-busy', {
          status: 'busy "now" \\ \u00e9\u{1F600}',
          metrics: { q: 'a"b\\c\n', n: 1.5, ok: true, none: null },
        })
      ).statusCode,
    ).toBe(200);
    expect((await heartbeat(app, 'j-ipv6', { status: 'idle', metrics: null })).statusCode).toBe(200);
    const svc = app.mesh.instances;
    for (const opts of [{}, { capability: 'code' }, { limit: 2 }, { limit: 1, after: '1' }, { capability: 'none' }]) {
      const objects = await svc.list(opts);
      const text = await svc.listJson(opts);
      expect(JSON.parse(text.instances_json)).toEqual(objects.instances);
      expect(text.count).toBe(objects.instances.length);
      expect([text.leader_id, text.leader_term, text.next_cursor]).toEqual([objects.leader_id, objects.leader_term, objects.next_cursor]);
    }
    const http = await app.inject({ method: 'GET', url: '/registry/agents' });
    expect(http.headers['content-type']).toMatch(/^application\/json/);
    const listed = await svc.list();
    expect(http.json()).toEqual({
      instances: listed.instances,
      leader_id: listed.leader_id,
      leader_term: listed.leader_term,
      next_cursor: null,
    });
    const reg = await register(app, 'j-last');
    expect((reg as unknown as { peers: unknown[] }).peers).toEqual((await svc.list()).instances);
    await own.close();
  });
});
