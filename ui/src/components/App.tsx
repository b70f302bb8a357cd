// The console: totals on top, the agents table, the leader and the event timeline beside it, an
// agent's detail on click. One MeshStore holds what is shown; MeshSync keeps it current.
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { Api } from '../api';
import { useNow, useStore } from '../hooks';
import { MeshStore } from '../store';
import { MeshSync } from '../sync';
import type { Health } from '../types';
import { AgentDetail } from './AgentDetail';
import { AgentTable } from './AgentTable';
import { LeaderPanel } from './LeaderPanel';
import { Timeline } from './Timeline';
import { TokenPrompt } from './TokenPrompt';
import { Totals } from './Totals';
import { fmtInt } from '../format';

type Sort = 'joined' | 'id';

function filterIds(store: MeshStore, capability: string, search: string, sort: Sort): string[] {
  const q = search.trim().toLowerCase();
  const out: string[] = [];
  for (const [id, a] of store.agents) {
    if (capability && !a.capabilities.includes(capability)) continue;
    if (q && !id.toLowerCase().includes(q)) continue;
    out.push(id);
  }
  if (sort === 'id') out.sort();
  return out;
}

const CONNECTION_TEXT = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', stopped: 'stopped' };

export function App() {
  const api = useMemo(() => new Api(), []);
  // A new session (after a token is entered) starts from a fresh store and sync.
  const [session, setSession] = useState(0);
  const store = useMemo(() => new MeshStore(), [session]);
  const sync = useMemo(() => new MeshSync(store, api), [store, api]);
  useStore(store);
  useEffect(() => {
    sync.start();
    return () => sync.stop();
  }, [sync]);
  const now = useNow(1000);

  const [health, setHealth] = useState<Health | null>(null);
  useEffect(() => {
    fetch('/health', { cache: 'no-store' })
      .then((r) => (r.ok ? (r.json() as Promise<Health>) : null))
      .then(setHealth, () => setHealth(null));
  }, []);

  const [capability, setCapability] = useState('');
  const [search, setSearch] = useState('');
  const [sort, setSort] = useState<Sort>('joined');
  const [selected, setSelected] = useState<string | null>(null);
  const ids = useMemo(() => filterIds(store, capability, search, sort), [store, store.membershipVersion, capability, search, sort]);
  const capabilities = useMemo(
    () => [...store.capabilityCounts.entries()].sort((a, b) => a[0].localeCompare(b[0])),
    [store, store.membershipVersion],
  );
  const onVisible = useCallback((v: string[]) => sync.setVisible(v), [sync]);
  const close = useCallback(() => setSelected(null), []);

  const connect = (token: string | null) => {
    api.setToken(token);
    setSelected(null);
    setSession((s) => s + 1);
  };

  return (
    <div class="app">
      <header class="topbar">
        <h1>
          agent-mesh <span class="muted">console</span>
        </h1>
        {health && (
          <span class="muted" data-testid="namespace">
            namespace <strong>{health.namespace}</strong> · v{health.version}
          </span>
        )}
        <span class={`conn conn-${store.connection}`} data-connection={store.connection} title={store.connectionDetail ?? ''}>
          <span class="dot" aria-hidden="true" />
          {CONNECTION_TEXT[store.connection]}
        </span>
        {api.token && (
          <button type="button" class="ghost" onClick={() => connect(null)} data-testid="forget-token">
            Forget token
          </button>
        )}
      </header>
      {store.auth.state !== 'ok' ? (
        <main class="center">
          <TokenPrompt auth={store.auth} onSubmit={connect} />
        </main>
      ) : (
        <>
          {store.error && (
            <div class="banner" role="status" data-testid="error-banner">
              {store.error}
            </div>
          )}
          <Totals store={store} />
          <main class="main">
            <section class="agents" aria-label="Agents">
              <div class="toolbar">
                <input
                  type="search"
                  placeholder="Search by id"
                  value={search}
                  onInput={(e) => setSearch(e.currentTarget.value)}
                  data-testid="search"
                  aria-label="Search agents by id"
                />
                <select
                  value={capability}
                  onChange={(e) => setCapability(e.currentTarget.value)}
                  data-testid="capability-filter"
                  aria-label="Filter by capability"
                >
                  <option value="">All capabilities</option>
                  {capabilities.map(([c, n]) => (
                    <option key={c} value={c}>
                      {c} ({fmtInt(n)})
                    </option>
                  ))}
                </select>
                <select value={sort} onChange={(e) => setSort(e.currentTarget.value as Sort)} aria-label="Order">
                  <option value="joined">Join order</option>
                  <option value="id">By id</option>
                </select>
                <span class="count muted" data-testid="agent-count">
                  {ids.length === store.agents.size
                    ? `${fmtInt(ids.length)} agents`
                    : `${fmtInt(ids.length)} of ${fmtInt(store.agents.size)} agents`}
                  {store.loading && ' (loading…)'}
                </span>
              </div>
              <AgentTable store={store} ids={ids} now={now} selected={selected} onSelect={setSelected} onVisible={onVisible} />
            </section>
            <div class="side">
              <LeaderPanel store={store} onSelect={setSelected} />
              <Timeline store={store} onSelect={setSelected} />
            </div>
          </main>
          {selected && <AgentDetail key={selected} store={store} api={api} id={selected} now={now} onClose={close} />}
        </>
      )}
    </div>
  );
}
