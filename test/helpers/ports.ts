// TCP port helpers shared by the Redis, replica and load-balancer helpers.
import net from 'node:net';

/**
 * A port that was free a moment ago on `host`: the kernel picks it for a listener bound to
 * port 0, which we close at once. Another process can grab it before our child binds it, so
 * callers that spawn a server retry with a new port when the child reports "in use".
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ port: 0, host, exclusive: true }, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('could not read the address of a port-0 listener'));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}

/** True when a TCP connection to host:port is accepted within `timeoutMs`. */
export function canConnect(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
