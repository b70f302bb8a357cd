// `mesh`: operator CLI for the agent-mesh registry, built on the SDK's MeshClient.
// Exit codes: 0 ok, 1 the server answered with an error, 2 usage error, 3 could not reach the server.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MeshClient } from '../client/client.js';
import { MeshApiError, MeshNetworkError } from '../client/errors.js';
import { messageTypeName, toMessageType } from '../client/message-types.js';
import type { AgentMessage, Json, MeshEvent, MeshInstance } from '../client/types.js';

const EXIT_OK = 0;
const EXIT_API = 1;
const EXIT_USAGE = 2;
const EXIT_CONNECT = 3;

const DEFAULT_URL = 'http://127.0.0.1:8080';

const USAGE = `Usage: mesh <command> [options]

Commands:
  agents [--capability <name>] [--limit <n>]
                                        list live instances (all pages of <n>)
  agent <id>                            show one instance
  leader                                show the current leader and term
  send <source> <target> <type> <json>  send a message as <source> to <target>
  send <source> --broadcast <type> <json>
  send <source> --capability <name> <type> <json>
                                        <type>: Query, Response, Notification, ... or Custom:<name>
  inbox <id> [--ack] [--wait <s>] [--limit <n>]
                                        messages not yet acked by <id> (--ack acks what was shown)
  watch                                 follow membership events (needs GET /registry/events)
  health                                server health

Options:
  --url <url>          registry URL (env MESH_URL, default ${DEFAULT_URL})
  --token <token>      bearer token (env MESH_TOKEN)
  --json               machine-readable JSON output
  --timeout <ms>       per-request timeout (default 10000)
  --retries <n>        retries of idempotent requests (default 1)
  --correlation-id <id>  (send) correlation id
  -h, --help           this help
  -v, --version        CLI version

Exit codes: 0 ok, 1 API error, 2 usage error, 3 connection error.
`;

class UsageError extends Error {}

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  retries: { type: 'string' },
  capability: { type: 'string' },
  broadcast: { type: 'boolean' },
  ack: { type: 'boolean' },
  wait: { type: 'string' },
  limit: { type: 'string' },
  'correlation-id': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

type OptionName = keyof typeof OPTIONS;
const GLOBAL: OptionName[] = ['url', 'token', 'json', 'timeout', 'retries', 'help', 'version'];
const PER_COMMAND: Record<string, OptionName[]> = {
  agents: ['capability', 'limit'],
  agent: [],
  leader: [],
  send: ['broadcast', 'capability', 'correlation-id'],
  inbox: ['ack', 'wait', 'limit'],
  watch: [],
  health: [],
};

interface Values {
  url?: string;
  token?: string;
  json?: boolean;
  timeout?: string;
  retries?: string;
  capability?: string;
  broadcast?: boolean;
  ack?: boolean;
  wait?: string;
  limit?: string;
  'correlation-id'?: string;
  help?: boolean;
  version?: boolean;
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function intOption(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(raw)) throw new UsageError(`--${name} must be a number (got ${JSON.stringify(raw)})`);
  const n = Number(raw);
  if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max} (got ${raw})`);
  return n;
}

function requireArgs(args: string[], names: string[]): string[] {
  if (args.length !== names.length) {
    const got = args.length === 0 ? 'none' : args.map((a) => JSON.stringify(a)).join(' ');
    throw new UsageError(`expects ${names.map((n) => `<${n}>`).join(' ') || 'no arguments'} (got ${got})`);
  }
  return args;
}

// ---- output ----------------------------------------------------------------------------------

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [fmt(headers), ...rows.map(fmt)].join('\n') + '\n';
}

function ago(iso: string, now = Date.now()): string {
  const ms = now - Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  if (ms < 1000) return `${Math.max(0, ms)}ms ago`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)}s ago`;
  return `${Math.round(ms / 60_000)}m ago`;
}

function compact(value: Json | unknown, max = 60): string {
  const s = JSON.stringify(value) ?? 'null';
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

function instanceTable(list: MeshInstance[]): string {
  return table(
    ['INSTANCE', 'LEADER', 'HOST', 'PORT', 'CAPABILITIES', 'PROFILES', 'STATUS', 'HEARTBEAT'],
    list.map((i) => [
      i.instance_id,
      i.is_leader ? '*' : '',
      i.hostname,
      String(i.port),
      i.capabilities.join(',') || '-',
      i.agent_profiles.join(',') || '-',
      i.status ?? '-',
      ago(i.last_heartbeat),
    ]),
  );
}

function messageTable(list: AgentMessage[]): string {
  return table(
    ['MESSAGE', 'FROM', 'TYPE', 'TO', 'CORRELATION', 'CREATED', 'PAYLOAD'],
    list.map((m) => [
      m.message_id,
      m.source_instance,
      messageTypeName(m.message_type),
      m.target_instance ?? '*',
      m.correlation_id ?? '-',
      m.created_at,
      compact(m.payload),
    ]),
  );
}

function eventLine(ev: MeshEvent): string {
  const parts = [new Date().toISOString(), ev.type.padEnd(8), ev.instance_id ?? '-'];
  if (ev.term !== null) parts.push(`term ${ev.term}`);
  const rest = Object.entries(ev.data).filter(([k]) => !['type', 'instance_id', 'leader_id', 'term', 'leader_term'].includes(k));
  for (const [k, v] of rest) parts.push(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return `${parts.join('  ')}\n`;
}

// ---- commands --------------------------------------------------------------------------------

async function runCommand(cmd: string, args: string[], v: Values, client: MeshClient, io: Io, signal: AbortSignal): Promise<number> {
  const asJson = v.json === true;
  switch (cmd) {
    case 'agents': {
      requireArgs(args, []);
      const limit = intOption('limit', v.limit, 1, 10_000);
      const res = await client.listAllAgents({ capability: v.capability, limit });
      if (asJson) {
        io.out(json({ instances: res.instances, leader_id: res.leader_id, leader_term: res.leader_term }));
      } else if (res.instances.length === 0) {
        io.out(v.capability ? `no live instances with capability '${v.capability}'\n` : 'no live instances\n');
      } else {
        io.out(instanceTable(res.instances));
        io.out(`${res.instances.length} instance(s); leader ${res.leader_id ?? 'none'} (term ${res.leader_term})\n`);
      }
      return EXIT_OK;
    }
    case 'agent': {
      const [id] = requireArgs(args, ['id']);
      const inst = await client.getAgent(id!);
      if (asJson) {
        io.out(json(inst));
      } else {
        const rows: [string, string][] = [
          ['instance_id', inst.instance_id],
          ['leader', inst.is_leader ? 'yes' : 'no'],
          ['hostname', inst.hostname],
          ['port', String(inst.port)],
          ['capabilities', inst.capabilities.join(', ') || '-'],
          ['agent_profiles', inst.agent_profiles.join(', ') || '-'],
          ['status', inst.status ?? '-'],
          ['metrics', inst.metrics ? JSON.stringify(inst.metrics) : '-'],
          ['last_heartbeat', `${inst.last_heartbeat} (${ago(inst.last_heartbeat)})`],
          ['created_at', inst.created_at],
        ];
        io.out(rows.map(([k, val]) => `${k.padEnd(15)} ${val}`).join('\n') + '\n');
      }
      return EXIT_OK;
    }
    case 'leader': {
      requireArgs(args, []);
      const res = await client.leader();
      if (asJson) io.out(json(res));
      else io.out(res.leader_id ? `${res.leader_id} (term ${res.leader_term})\n` : `no leader (term ${res.leader_term})\n`);
      return EXIT_OK;
    }
    case 'send': {
      if (v.broadcast && v.capability !== undefined) throw new UsageError('use either --broadcast or --capability, not both');
      const routed = v.broadcast === true || v.capability !== undefined;
      const names = routed ? ['source', 'type', 'json'] : ['source', 'target', 'type', 'json'];
      const parts = requireArgs(args, names);
      const source = parts[0]!;
      const target = routed ? null : parts[1]!;
      const typeArg = parts[names.length - 2]!;
      const payloadArg = parts[names.length - 1]!;
      let messageType;
      try {
        messageType = toMessageType(typeArg as Parameters<typeof toMessageType>[0]);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      let payload: Json;
      try {
        payload = JSON.parse(payloadArg) as Json;
      } catch (err) {
        throw new UsageError(`<json> is not valid JSON (${(err as Error).message}); quote it, e.g. '{"q":"hi"}'`);
      }
      const res = await client.send(source, {
        target_instance: target,
        target_capability: v.capability ?? null,
        message_type: messageType,
        payload,
        correlation_id: v['correlation-id'] ?? null,
      });
      if (asJson) io.out(json(res));
      else io.out(`queued ${res.message_id} -> ${res.delivered_to.length > 0 ? res.delivered_to.join(', ') : '(no recipients)'}\n`);
      return EXIT_OK;
    }
    case 'inbox': {
      const [id] = requireArgs(args, ['id']);
      const wait = intOption('wait', v.wait, 0, 60);
      const limit = intOption('limit', v.limit, 1, 1000);
      const messages = await client.fetchMessages(id!, { wait, limit, signal });
      let acked: string[] = [];
      if (v.ack && messages.length > 0) {
        acked = messages.map((m) => m.message_id);
        await client.ack(id!, acked);
      }
      if (asJson) {
        io.out(json(v.ack ? { messages, acked } : { messages }));
      } else if (messages.length === 0) {
        io.out('no messages\n');
      } else {
        io.out(messageTable(messages));
        if (v.ack) io.out(`acked ${acked.length} message(s)\n`);
      }
      return EXIT_OK;
    }
    case 'watch': {
      requireArgs(args, []);
      try {
        for await (const ev of client.events({ signal, reconnect: true })) {
          io.out(asJson ? `${JSON.stringify({ id: ev.id, type: ev.type, instance_id: ev.instance_id, term: ev.term, data: ev.data })}\n` : eventLine(ev));
        }
      } catch (err) {
        if (signal.aborted) return EXIT_OK;
        if (err instanceof MeshApiError && (err.status === 404 || err.status === 405)) {
          io.err(`mesh: this server has no membership feed (GET /registry/events answered ${err.status} ${err.code}); use 'mesh agents' instead\n`);
          return EXIT_API;
        }
        throw err;
      }
      return EXIT_OK;
    }
    case 'health': {
      requireArgs(args, []);
      const h = await client.health();
      if (asJson) io.out(json(h));
      else io.out(`${h.status}: version ${h.version}, uptime ${h.uptime_seconds}s, ${h.active_sessions} live instance(s), namespace ${h.namespace}, redis ${h.redis}\n`);
      return EXIT_OK;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  }
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, io: Io = defaultIo(), signal?: AbortSignal): Promise<number> {
  let cmd = '';
  try {
    let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true; args: string[] }>>;
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const v = parsed.values as Values;
    const [first, ...rest] = parsed.positionals;
    if (v.version) {
      io.out(`${version()}\n`);
      return EXIT_OK;
    }
    if (v.help || first === 'help') {
      io.out(USAGE);
      return EXIT_OK;
    }
    if (!first) throw new UsageError('missing command');
    cmd = first;
    const allowed = PER_COMMAND[cmd];
    if (!allowed) throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    for (const name of Object.keys(v) as OptionName[]) {
      if (!GLOBAL.includes(name) && !allowed.includes(name)) throw new UsageError(`option --${name} does not apply to ${cmd}`);
    }
    const url = v.url ?? env.MESH_URL ?? DEFAULT_URL;
    const timeoutMs = intOption('timeout', v.timeout, 1, 3_600_000) ?? 10_000;
    const retries = intOption('retries', v.retries, 0, 10) ?? 1;
    let client: MeshClient;
    try {
      client = new MeshClient({ url, token: v.token ?? env.MESH_TOKEN ?? null, timeoutMs, retries, retryMaxMs: 1000 });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    return await runCommand(cmd, rest, v, client, io, signal ?? new AbortController().signal);
  } catch (err) {
    const prefix = cmd ? `mesh ${cmd}` : 'mesh';
    if (err instanceof UsageError) {
      io.err(`${prefix}: ${err.message}\nRun 'mesh --help' for usage.\n`);
      return EXIT_USAGE;
    }
    if (err instanceof MeshApiError) {
      io.err(`${prefix}: ${err.status} ${err.code}: ${typeof err.body?.error === 'string' ? err.body.error : err.message}\n`);
      return EXIT_API;
    }
    if (err instanceof MeshNetworkError) {
      io.err(`${prefix}: cannot reach the registry (${err.kind}${err.errno ? `, ${err.errno}` : ''}): ${err.message}\n`);
      return EXIT_CONNECT;
    }
    if (signal?.aborted) return 130;
    io.err(`${prefix}: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return EXIT_API;
  }
}

export function defaultIo(): Io {
  return {
    out: (s) => void process.stdout.write(s),
    err: (s) => void process.stderr.write(s),
  };
}
