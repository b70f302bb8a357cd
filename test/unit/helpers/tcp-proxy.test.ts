// The partition tests' TCP proxy (test/helpers/tcp-proxy.ts) against a local echo server: a fault
// test is only as good as its fault, so each mode is checked to do what it says.
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.js';

let echo: net.Server | undefined;
let proxy: TcpProxy | undefined;
afterAll(async () => {
  await proxy?.close();
  await new Promise<void>((r) => (echo ? echo.close(() => r()) : r()));
});

/** A connected client and what it has seen: received bytes, and how it ended. */
function client(port: number) {
  const socket = net.connect({ host: '127.0.0.1', port });
  const seen = { data: '', ended: null as string | null };
  socket.on('data', (d: Buffer) => (seen.data += d.toString('utf8')));
  socket.on('error', (e: NodeJS.ErrnoException) => (seen.ended ??= e.code ?? e.message));
  socket.on('close', () => (seen.ended ??= 'closed'));
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, seen, connected };
}

const until = async (cond: () => boolean, ms = 3000) => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('tcp proxy', () => {
  it('pass forwards, blackhole drops silently and keeps the link open, reset resets, pass again resets blackholed links', async () => {
    echo = net.createServer((s) => {
      s.on('error', () => undefined); // the proxy resets its side: expected
      s.pipe(s);
    });
    await new Promise<void>((r) => echo?.listen(0, '127.0.0.1', () => r()));
    proxy = await startTcpProxy({ host: '127.0.0.1', port: (echo.address() as net.AddressInfo).port });
    const px = proxy;

    const a = client(px.port);
    await a.connected;
    a.socket.write('hello');
    await until(() => a.seen.data === 'hello');

    px.setMode('blackhole');
    a.socket.write('lost');
    const b = client(px.port); // new connections are accepted, and answer nothing
    await b.connected;
    b.socket.write('void');
    await until(() => px.stats.droppedBytes >= 8);
    await new Promise((r) => setTimeout(r, 200));
    expect(a.seen).toEqual({ data: 'hello', ended: null });
    expect(b.seen).toEqual({ data: '', ended: null });

    px.setMode('pass'); // the links that lost bytes cannot carry on
    await until(() => a.seen.ended !== null && b.seen.ended !== null);
    expect(a.seen.data).toBe('hello');
    const c = client(px.port);
    await c.connected;
    c.socket.write('back');
    await until(() => c.seen.data === 'back');

    px.setMode('reset');
    await until(() => c.seen.ended !== null);
    expect(c.seen.ended).toBe('ECONNRESET');
    const d = client(px.port);
    await until(() => d.seen.ended !== null);
    expect(d.seen.data).toBe('');
    expect(px.connections()).toBe(0);

    px.setMode('pass');
    const e = client(px.port);
    await e.connected;
    e.socket.write('ok');
    await until(() => e.seen.data === 'ok');
    e.socket.destroy();
  });
});
