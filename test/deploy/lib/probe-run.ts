// Runs a container healthcheck command (exec form, `node -e ...`) on this machine against a
// throwaway HTTP server, so a typo inside the quoted JavaScript fails a test, not a rollout.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function withStatusServer<T>(statusFor: (path: string) => number, fn: (port: number) => Promise<T>): Promise<T> {
  const server: Server = createServer((req, res) => {
    const status = statusFor(req.url ?? '/');
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ status }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await fn((server.address() as AddressInfo).port);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Exit code of the exec-form command `cmd` (first word must be node) with PORT=port. */
export function runHealthcheck(cmd: string[], port: number): Promise<number> {
  if (cmd[0] !== 'node') throw new Error(`not a node healthcheck: ${cmd.join(' ')}`);
  return new Promise((resolve) => {
    execFile(process.execPath, cmd.slice(1), { env: { ...process.env, PORT: String(port) }, timeout: 10_000 }, (err) => {
      if (!err) resolve(0);
      else resolve(typeof err.code === 'number' ? err.code : -1);
    });
  });
}
