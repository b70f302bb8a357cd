// Membership events, newest first: the feed's recent history, then every event as it arrives.
import { fmtTime } from '../format';
import type { MeshStore } from '../store';
import type { MeshEvent } from '../types';

function detail(e: MeshEvent): string {
  switch (e.type) {
    case 'left':
      return e.reason ?? '';
    case 'leader':
      return e.term === null ? '' : `term ${e.term}`;
    case 'updated':
      return e.what === 'status' ? `status → ${e.status ?? '?'}` : (e.what ?? '');
    default:
      return '';
  }
}

export function Timeline({ store, onSelect }: { store: MeshStore; onSelect: (id: string) => void }) {
  return (
    <section class="panel timeline" aria-label="Membership events">
      <h2>Events</h2>
      {store.timeline.length === 0 ? (
        <p class="muted">No membership change in the last 15 minutes.</p>
      ) : (
        <ol class="events" data-testid="timeline">
          {store.timeline.slice(0, 150).map((e) => (
            <li key={e.id} class={`event event-${e.type}`} data-event-type={e.type} data-instance-id={e.instance_id}>
              <span class="event-time">{fmtTime(e.at)}</span>
              <span class={`badge badge-${e.type}`}>{e.type}</span>
              <button type="button" class="link mono" onClick={() => onSelect(e.instance_id)}>
                {e.instance_id}
              </button>
              <span class="event-detail">{detail(e)}</span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
