// Redis MONITOR over a plain socket, for tests that count the commands a call runs.
//
// Why not ioredis' monitor(): when MONITOR's +OK and the first monitored command arrive in one TCP
// read (likely on a busy machine), ioredis parses the second reply before the promise of the first
// has switched the connection to monitoring, and throws "Command queue state error" (seen in CI;
// also reported as ioredis#1981 and bullmq#2505). Here the +OK is read off the stream before any
// line is handed out, so nothing is lost and nothing is misread.
import net from 'node:net';

export interface MonitorLine {
  /** The command and its arguments as MONITOR quotes them (only \" unescaped, as ioredis does). */
  args: string[];
  /** "lua" for a command a script ran, else the client's address. */
  source: string;
}

export class RawMonitor {
  private constructor(private readonly socket: net.Socket) {}

  /** Connects, sends MONITOR and resolves once Redis confirmed it: every later command is seen. */
  static start(url: string, onLine: (line: MonitorLine) => void): Promise<RawMonitor> {
    const { hostname, port, password, username } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(port || 6379), hostname || '127.0.0.1');
      let buffer = '';
      let confirmed = false;
      let oksExpected = password ? 2 : 1;
      socket.setEncoding('utf8');
      socket.on('error', (err) => {
        if (!confirmed) reject(err);
      });
      socket.on('connect', () => {
        const auth = password ? `AUTH ${username ? `${decodeURIComponent(username)} ` : ''}${decodeURIComponent(password)}\r\n` : '';
        socket.write(`${auth}MONITOR\r\n`);
      });
      socket.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\r\n')) >= 0) {
          const line = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (line.startsWith('-')) {
            socket.destroy();
            reject(new Error(`MONITOR refused: ${line.slice(1)}`));
            return;
          }
          if (!confirmed) {
            // The +OK of AUTH (when sent), then the +OK of MONITOR.
            if (line === '+OK' && --oksExpected === 0) {
              confirmed = true;
              resolve(new RawMonitor(socket));
            }
            continue;
          }
          const parsed = parseMonitorLine(line);
          if (parsed) onLine(parsed);
        }
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** `+1796162752.945444 [0 127.0.0.1:50402] "hmget" "key" "f1"` -> args and source. */
export function parseMonitorLine(line: string): MonitorLine | null {
  const open = line.indexOf('[');
  const close = line.indexOf('] "', open);
  if (!line.startsWith('+') || open < 0 || close < 0) return null;
  const source = line.slice(open + 1, close).split(' ')[1] ?? '';
  const args = line
    .slice(close + 3, -1)
    .split('" "')
    .map((a) => a.replace(/\\"/g, '"'));
  return { args, source };
}
