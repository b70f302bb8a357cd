// HTTP/1.1 over raw keep-alive sockets, for load at thousands of requests per second from this
// process on a 2-core machine (node:http's client costs more CPU per request than the server it
// measures). One request in flight per socket; requests queue for a free socket. Answers are
// delimited by Content-Length (the registry never sends chunked JSON).
import net from 'node:net';

export interface RawReply {
  status: number;
  /** Body bytes. */
  bytes: number;
  /** From write to the end of the answer. */
  ms: number;
  /** The body, when asked for. */
  body?: string;
}

interface Pending {
  head: string;
  keepBody: boolean;
  resolve(r: RawReply): void;
  reject(e: Error): void;
}

class Conn {
  private readonly socket: net.Socket;
  /** Bytes received before the current answer's headers were complete. */
  private head: Buffer = Buffer.alloc(0);
  /** The current answer once its headers are parsed: body bytes still expected. */
  private body: { status: number; length: number; remaining: number; chunks: Buffer[] } | null = null;
  private current: (Pending & { t0: number }) | null = null;
  closed = false;

  constructor(
    host: string,
    port: number,
    private readonly onFree: (c: Conn) => void,
  ) {
    this.socket = net.connect({ host, port });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const fail = (err: Error) => {
      this.closed = true;
      const cur = this.current;
      this.current = null;
      cur?.reject(err);
    };
    this.socket.on('error', fail);
    this.socket.on('close', () => fail(new Error('socket closed')));
  }

  get busy(): boolean {
    return this.current !== null;
  }

  send(p: Pending): void {
    this.current = { ...p, t0: performance.now() };
    this.socket.write(p.head);
  }

  // Large answers (a 30 MB listing) arrive in hundreds of chunks: they are counted, and kept only
  // when asked for, never concatenated chunk by chunk.
  private onData(chunk: Buffer): void {
    if (!this.current) return;
    if (!this.body) {
      this.head = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]);
      const end = this.head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const headers = this.head.subarray(0, end).toString('latin1');
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(headers);
      const length = m ? Number(m[1]) : 0;
      this.body = { status: Number(headers.slice(9, 12)), length, remaining: length, chunks: [] };
      chunk = this.head.subarray(end + 4);
      this.head = Buffer.alloc(0);
    }
    const b = this.body;
    const take = Math.min(chunk.length, b.remaining);
    if (this.current.keepBody && take > 0) b.chunks.push(chunk.subarray(0, take));
    b.remaining -= take;
    if (b.remaining > 0) return;
    const cur = this.current;
    this.current = null;
    this.body = null;
    this.head = chunk.subarray(take);
    cur.resolve({
      status: b.status,
      bytes: b.length,
      ms: performance.now() - cur.t0,
      ...(cur.keepBody ? { body: Buffer.concat(b.chunks).toString('utf8') } : {}),
    });
    this.onFree(this);
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

/** A pool of keep-alive sockets over one or more servers (round robin by socket). */
export class RawPool {
  private readonly conns: Conn[] = [];
  private readonly queue: Pending[] = [];
  private readonly hosts: string[];

  constructor(urls: string[], socketsPerUrl: number) {
    this.hosts = urls.map((u) => new URL(u).host);
    for (const u of urls) {
      const url = new URL(u);
      for (let i = 0; i < socketsPerUrl; i++) this.conns.push(new Conn(url.hostname, Number(url.port), (c) => this.next(c)));
    }
  }

  request(method: string, path: string, body?: unknown, keepBody = false): Promise<RawReply> {
    const payload = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const head =
        `${method} ${path} HTTP/1.1\r\nHost: ${this.hosts[0]}\r\n` +
        (body !== undefined ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n` : '') +
        `\r\n${payload}`;
      const p: Pending = { head, keepBody, resolve, reject };
      const free = this.conns.find((c) => !c.busy && !c.closed);
      if (free) free.send(p);
      else this.queue.push(p);
    });
  }

  private next(c: Conn): void {
    const p = this.queue.shift();
    if (p && !c.closed) c.send(p);
  }

  close(): void {
    for (const c of this.conns) c.destroy();
  }
}

/** Runs `fn(i)` for i in [0, n) with at most `window` in flight; resolves with the elapsed seconds. */
export async function closedLoop(n: number, window: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(window, n) }, worker));
  return (performance.now() - t0) / 1000;
}

/** Calls `fn(i)` at a constant rate (open loop) for `seconds`; resolves when all have answered. */
export async function openLoop(rate: number, seconds: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  const total = Math.round(rate * seconds);
  const t0 = performance.now();
  const inflight: Promise<unknown>[] = [];
  let issued = 0;
  while (issued < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
    while (issued < due) inflight.push(fn(issued++).catch(() => undefined));
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
}
