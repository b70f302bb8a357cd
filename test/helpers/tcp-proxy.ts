// A TCP proxy on 127.0.0.1 for partition tests: put it between one replica and Redis and cut the
// link without touching Redis or the other replicas. Modes:
//   pass       bytes flow both ways (new connections are connected to the target)
//   blackhole  connections stay open and new ones are accepted, but every byte is dropped silently
//              in both directions: the peer sees a link that answers nothing (commands time out)
//   reset      every connection is reset (RST) and new ones are reset as soon as they are accepted:
//              the peer sees the link refuse it at once
// Going back to `pass` resets every connection that lived through a blackhole: bytes were dropped
// from its stream, which no real TCP connection survives (the peers' retransmissions give up, or
// they would resume mid-stream with replies matched to the wrong commands). That is the end of a
// partition longer than the peers' timeouts; the clients have to reconnect, and new connections
// pass. Test helper only: no limits, loopback only.
import net from 'node:net';

export type ProxyMode = 'pass' | 'blackhole' | 'reset';

export interface TcpProxy {
  readonly port: number;
  /** host:port to give a client instead of the target's. */
  readonly address: string;
  readonly mode: ProxyMode;
  setMode(mode: ProxyMode): void;
  /** Open client connections. */
  connections(): number;
  readonly stats: { accepted: number; reset: number; droppedBytes: number };
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket | null;
  /** Lost bytes (or lived through a blackhole): cannot carry on after the partition. */
  poisoned: boolean;
}

function reset(socket: net.Socket | null): void {
  if (!socket || socket.destroyed) return;
  // RST where the socket supports it (connected TCP), a plain destroy otherwise.
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

export async function startTcpProxy(target: { host: string; port: number }, host = '127.0.0.1'): Promise<TcpProxy> {
  let mode: ProxyMode = 'pass';
  const pairs = new Set<Pair>();
  const stats = { accepted: 0, reset: 0, droppedBytes: 0 };

  const drop = (pair: Pair) => {
    pairs.delete(pair);
    reset(pair.client);
    reset(pair.upstream);
    stats.reset++;
  };

  const forward = (pair: Pair, from: net.Socket, to: () => net.Socket | null) => {
    from.on('data', (chunk: Buffer) => {
      const dest = to();
      if (mode !== 'pass' || pair.poisoned || !dest) {
        stats.droppedBytes += chunk.length;
        pair.poisoned = true;
        return;
      }
      dest.write(chunk);
    });
  };

  const server = net.createServer((client) => {
    stats.accepted++;
    client.setNoDelay(true);
    const pair: Pair = { client, upstream: null, poisoned: mode !== 'pass' };
    pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => {
      pairs.delete(pair);
      pair.upstream?.destroy();
    });
    if (mode === 'reset') {
      drop(pair);
      return;
    }
    forward(pair, client, () => pair.upstream);
    if (mode === 'blackhole') return; // accepted, never connected: a silent link
    const upstream = net.connect({ host: target.host, port: target.port });
    upstream.setNoDelay(true);
    pair.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    forward(pair, upstream, () => pair.client);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    address: `${host}:${port}`,
    get mode() {
      return mode;
    },
    setMode(next: ProxyMode) {
      mode = next;
      if (next === 'reset') for (const p of [...pairs]) drop(p);
      if (next === 'blackhole') for (const p of pairs) p.poisoned = true;
      if (next === 'pass') for (const p of [...pairs]) if (p.poisoned) drop(p);
    },
    connections: () => pairs.size,
    stats,
    async close() {
      for (const p of [...pairs]) drop(p);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
