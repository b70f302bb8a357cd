// A dependency-free PING over raw TCP: readiness checks must not depend on the client library
// under test, and a throwaway socket has none of ioredis' reconnect/queue behaviour to undo.
import net from 'node:net';
import { waitUntil } from './procs.js';

/** True when host:port answers PING with +PONG (not -LOADING while it replays the AOF). */
export function pingOnce(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let reply = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('error', () => done(false));
    // A peer that closes without answering (docker-proxy while the container's Redis is not yet
    // listening) ends the socket with no error and no data; the idle timer dies with the socket,
    // so without this the promise never settled and waitForPing hung past its own deadline.
    sock.once('close', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d: Buffer) => {
      reply += d.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

export async function waitForPing(host: string, port: number, timeoutMs: number, context: () => string = () => ''): Promise<void> {
  await waitUntil(
    () => pingOnce(host, port),
    timeoutMs,
    () => `Redis at ${host}:${port} did not answer PING within ${timeoutMs} ms${context()}`,
  );
}
