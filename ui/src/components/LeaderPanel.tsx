import { fmtTime } from '../format';
import type { MeshStore } from '../store';

export function LeaderPanel({ store, onSelect }: { store: MeshStore; onSelect: (id: string) => void }) {
  const { id, term } = store.leader;
  return (
    <section class="panel leader" aria-label="Leader">
      <h2>Leader</h2>
      <div class="leader-now">
        {id ? (
          <button type="button" class="link" data-testid="leader-id" onClick={() => onSelect(id)}>
            {id}
          </button>
        ) : (
          <span class="muted" data-testid="leader-id">
            none
          </span>
        )}
        <span class="term" data-testid="leader-term">
          term {term}
        </span>
      </div>
      {store.leaderHistory.length > 0 && (
        <ol class="leader-history" data-testid="leader-history">
          {store.leaderHistory.slice(0, 8).map((h) => (
            <li key={h.term} data-term={h.term}>
              <span class="muted">{fmtTime(h.at)}</span> term {h.term}: <span class="mono">{h.id}</span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
