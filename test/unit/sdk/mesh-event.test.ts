import { describe, expect, it } from 'vitest';
import { toMeshEvent } from '../../../sdk/src/mesh-event.js';

describe('toMeshEvent', () => {
  it('takes the type from the event name, the instance and term from the data', () => {
    expect(toMeshEvent({ id: '5-0', event: 'leader', data: '{"instance_id":"a","term":7}' })).toEqual({
      id: '5-0',
      type: 'leader',
      instance_id: 'a',
      term: 7,
      data: { instance_id: 'a', term: 7 },
    });
  });

  it('accepts older field names and string terms, and skips keep-alives', () => {
    expect(toMeshEvent({ id: null, event: 'message', data: '{"type":"leader","leader_id":"b","leader_term":"3"}' })).toMatchObject({
      type: 'leader',
      instance_id: 'b',
      term: 3,
    });
    expect(toMeshEvent({ id: null, event: 'ping', data: '' })).toBeNull();
    expect(toMeshEvent({ id: null, event: 'joined', data: 'not json' })).toMatchObject({
      type: 'joined',
      instance_id: null,
      data: { value: 'not json' },
    });
  });
});
