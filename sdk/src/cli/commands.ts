// The `mesh` commands: each declares its arguments, options and examples for commander and
// renders its answer as a table/line (default) or JSON (--json).
import { Command, Option } from 'commander';
import { backoffDelay, type MeshClient } from '../client.js';
import { delay } from '../delay.js';
import { MeshApiError, MeshNetworkError } from '../errors.js';
import { toMessageType, type MessageTypeName } from '../message-types.js';
import type { AgentMessage, Json, MessageType } from '../types.js';
import { intArg, UsageError } from './args.js';
import { cardSummary } from './card-format.js';
import { ago, eventJson, eventLine, instanceTable, jsonLine, messageLine, messageTable, pretty, type Colors } from './format.js';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Whether stdout is a terminal (colour). */
  isTty?: boolean;
}

export interface Context {
  io: Io;
  colors: Colors;
  signal: AbortSignal;
  json(): boolean;
  client(): MeshClient;
  exit(code: number): void;
}

function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

function messageTypeArg(raw: string): MessageType {
  try {
    return toMessageType(raw as MessageTypeName);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function payloadArg(raw: string): Json {
  try {
    return JSON.parse(raw) as Json;
  } catch (err) {
    throw new UsageError(`<json> is not valid JSON (${(err as Error).message}); quote it, e.g. '{"q":"hi"}'`);
  }
}

/** Ends quietly when the user interrupts (Ctrl-C) a command that follows a stream. */
function interrupted(ctx: Context, err: unknown): boolean {
  return ctx.signal.aborted && !(err instanceof MeshApiError);
}

export function registerCommands(program: Command, ctx: Context): void {
  const { io, colors: c } = ctx;

  program
    .command('agents')
    .description('list live instances (all pages; the leader is marked *)')
    .option('--capability <name>', 'only instances with this capability')
    .option('--skill <id-or-tag>', 'only instances whose A2A Agent Card has a skill with this id or tag')
    .addOption(new Option('--limit <n>', 'page size while fetching (1..10000)').argParser(intArg('limit', 1, 10_000)))
    .addHelpText('after', examples('mesh agents', 'mesh agents --capability summarize --json', "mesh agents --skill translate", "mesh agents --skill 'currency conversion'"))
    .action(async (o: { capability?: string; skill?: string; limit?: number }) => {
      if (o.capability !== undefined && o.skill !== undefined) throw new UsageError('use either --capability or --skill, not both');
      const res = await ctx.client().listAllAgents({
        ...(o.capability ? { capability: o.capability } : {}),
        ...(o.skill ? { skill: o.skill } : {}),
        ...(o.limit ? { limit: o.limit } : {}),
      });
      if (ctx.json()) {
        io.out(pretty({ instances: res.instances, leader_id: res.leader_id, leader_term: res.leader_term }));
      } else if (res.instances.length === 0) {
        io.out(
          o.capability
            ? `no live instances with capability '${o.capability}'\n`
            : o.skill
              ? `no live instances with skill '${o.skill}'\n`
              : 'no live instances\n',
        );
      } else {
        io.out(instanceTable(res.instances, c));
        io.out(`${res.instances.length} instance(s); leader ${res.leader_id ?? 'none'} (term ${res.leader_term})\n`);
      }
    });

  program
    .command('agent')
    .description('show one live instance (--card: its A2A Agent Card)')
    .argument('<id>', 'instance id')
    .option('--card', 'show the A2A Agent Card the instance registered (--json: the card as registered)')
    .addHelpText('after', examples('mesh agent worker-1', 'mesh agent worker-1 --json', 'mesh agent worker-1 --card', 'mesh agent worker-1 --card --json'))
    .action(async (id: string, o: { card?: boolean }) => {
      if (o.card) {
        const card = await ctx.client().getAgentCard(id);
        io.out(ctx.json() ? pretty(card) : cardSummary(card, c));
        return;
      }
      const inst = await ctx.client().getAgent(id);
      if (ctx.json()) {
        io.out(pretty(inst));
        return;
      }
      const rows: [string, string][] = [
        ['instance_id', inst.instance_id],
        ['leader', inst.is_leader ? c.green('yes') : 'no'],
        ['hostname', inst.hostname],
        ['port', String(inst.port)],
        ['capabilities', inst.capabilities.join(', ') || '-'],
        ['agent_profiles', inst.agent_profiles.join(', ') || '-'],
        ['status', inst.status ?? '-'],
        ['metrics', inst.metrics ? JSON.stringify(inst.metrics) : '-'],
        ['last_heartbeat', `${inst.last_heartbeat} (${ago(inst.last_heartbeat)})`],
        ['created_at', inst.created_at],
      ];
      io.out(rows.map(([k, v]) => `${k.padEnd(15)} ${v}`).join('\n') + '\n');
    });

  program
    .command('leader')
    .description('show the current leader and term')
    .addHelpText('after', examples('mesh leader'))
    .action(async () => {
      const res = await ctx.client().leader();
      if (ctx.json()) io.out(pretty(res));
      else io.out(res.leader_id ? `${res.leader_id} (term ${res.leader_term})\n` : `no leader (term ${res.leader_term})\n`);
    });

  program
    .command('send')
    .description('send a message as <source>: to <target>, to everyone (--broadcast) or to the least-loaded holder of a capability')
    .usage('<source> (<target> | --broadcast | --capability <name>) <type> <json> [options]')
    .argument('<source>', 'sending instance (must be live)')
    .argument('<args...>', '[<target>] <type> <json>; <type>: Query, Response, Notification, ... or Custom:<name>')
    .option('--broadcast', 'to every other live instance')
    .option('--capability <name>', 'to the least-loaded live instance with this capability')
    .option('--correlation-id <id>', 'correlation id to set')
    .option('--idempotency-key <key>', 'run it again with the same key: the first result comes back, nothing is sent twice (default: a new key)')
    .addHelpText(
      'after',
      examples(`mesh send planner worker-1 Query '{"q":"hi"}'`, `mesh send planner --broadcast Notification '"deploying"'`, `mesh send planner --capability summarize Custom:job 42`),
    )
    .action(async (source: string, args: string[], o: { broadcast?: boolean; capability?: string; correlationId?: string; idempotencyKey?: string }) => {
      if (o.broadcast && o.capability !== undefined) throw new UsageError('use either --broadcast or --capability, not both');
      const routed = o.broadcast === true || o.capability !== undefined;
      const names = routed ? ['type', 'json'] : ['target', 'type', 'json'];
      if (args.length !== names.length) {
        throw new UsageError(`expects <source> ${names.map((n) => `<${n}>`).join(' ')} (got ${[source, ...args].map((a) => JSON.stringify(a)).join(' ')})`);
      }
      const [typeArg, payloadRaw] = args.slice(-2) as [string, string];
      const res = await ctx.client().send(source, {
        target_instance: routed ? null : args[0]!,
        target_capability: o.capability ?? null,
        message_type: messageTypeArg(typeArg),
        payload: payloadArg(payloadRaw),
        correlation_id: o.correlationId ?? null,
      }, o.idempotencyKey === undefined ? {} : { idempotencyKey: o.idempotencyKey });
      if (ctx.json()) io.out(pretty(res));
      else io.out(`queued ${res.message_id} -> ${res.delivered_to.length > 0 ? res.delivered_to.join(', ') : '(no recipients)'}\n`);
    });

  program
    .command('request')
    .description('send a request as <source> and wait for the correlated Response (POST /messages/request)')
    .usage('<source> (<target> | --capability <name>) <type> <json> [options]')
    .argument('<source>', 'sending instance (must be live)')
    .argument('<args...>', '[<target>] <type> <json>')
    .option('--capability <name>', 'to the least-loaded live instance with this capability')
    .addOption(new Option('--wait <s>', 'how long to wait for the Response, in seconds (1..60, default 30)').argParser(intArg('wait', 1, 60)))
    .addHelpText('after', examples(`mesh request planner --capability summarize Query '{"text":"..."}'`, `mesh request planner worker-1 Query '"ping"' --wait 5 --json`))
    .action(async (source: string, args: string[], o: { capability?: string; wait?: number }) => {
      const names = o.capability !== undefined ? ['type', 'json'] : ['target', 'type', 'json'];
      if (args.length !== names.length) {
        throw new UsageError(`expects <source> ${names.map((n) => `<${n}>`).join(' ')} (got ${[source, ...args].map((a) => JSON.stringify(a)).join(' ')})`);
      }
      const [typeArg, payloadRaw] = args.slice(-2) as [string, string];
      const res = await ctx.client().request(
        source,
        {
          target_instance: o.capability !== undefined ? null : args[0]!,
          target_capability: o.capability ?? null,
          message_type: messageTypeArg(typeArg),
          payload: payloadArg(payloadRaw),
          timeout_ms: Math.round((o.wait ?? 30) * 1000),
        },
        { signal: ctx.signal },
      );
      if (ctx.json()) {
        io.out(pretty(res));
      } else {
        io.out(`${c.dim(`response from ${res.response.source_instance} (${res.response.message_id}):`)}\n`);
        io.out(pretty(res.response.payload));
      }
    });

  program
    .command('inbox')
    .description('messages not yet acked by <id>; --follow streams new ones as they arrive')
    .argument('<id>', 'instance id')
    .option('--ack', 'acknowledge what was shown')
    .option('-f, --follow', 'keep printing messages as they arrive (Ctrl-C to stop)')
    .addOption(new Option('--wait <s>', 'long-poll: wait up to <s> seconds for a message (0..60)').argParser(intArg('wait', 0, 60)))
    .addOption(new Option('--limit <n>', 'at most <n> messages (1..1000)').argParser(intArg('limit', 1, 1000)))
    .addHelpText('after', examples('mesh inbox worker-1', 'mesh inbox worker-1 --ack --json', 'mesh inbox worker-1 --follow --ack'))
    .action(async (id: string, o: { ack?: boolean; follow?: boolean; wait?: number; limit?: number }) => {
      if (o.follow) {
        if (o.wait !== undefined || o.limit !== undefined) throw new UsageError('--follow streams: it takes no --wait or --limit');
        await follow(ctx, id, o.ack === true);
        return;
      }
      const client = ctx.client();
      const messages = await client.fetchMessages(id, { wait: o.wait, limit: o.limit, signal: ctx.signal });
      const acked = o.ack && messages.length > 0 ? messages.map((m) => m.message_id) : [];
      if (acked.length > 0) await client.ack(id, acked);
      if (ctx.json()) {
        io.out(pretty(o.ack ? { messages, acked } : { messages }));
      } else if (messages.length === 0) {
        io.out('no messages\n');
      } else {
        io.out(messageTable(messages, c));
        if (o.ack) io.out(`acked ${acked.length} message(s)\n`);
      }
    });

  program
    .command('evict')
    .description('deregister <id> as an operator (needs an admin token when auth is on); its queues go with it')
    .argument('<id>', 'instance id')
    .addHelpText('after', examples('mesh evict worker-1 --token $ADMIN_TOKEN'))
    .action(async (id: string) => {
      const removed = await ctx.client().deregister(id);
      if (ctx.json()) io.out(pretty({ instance_id: id, evicted: removed }));
      else io.out(removed ? `evicted ${id}\n` : `no live instance '${id}'\n`);
      if (!removed) ctx.exit(1);
    });

  program
    .command('watch')
    .description('follow membership events (GET /registry/events): joined, left, leader, updated')
    .option('--since <id>', 'start after this event id (0: all retained history; default: from now)')
    .addHelpText('after', examples('mesh watch', 'mesh watch --since 0 --json', 'mesh watch --since 1764237600123-0'))
    .action(async (o: { since?: string }) => {
      try {
        for await (const ev of ctx.client().events({ signal: ctx.signal, reconnect: true, ...(o.since !== undefined ? { lastEventId: o.since } : {}) })) {
          io.out(ctx.json() ? eventJson(ev) : eventLine(ev, c));
        }
      } catch (err) {
        if (interrupted(ctx, err)) return;
        if (err instanceof MeshApiError && (err.status === 404 || err.status === 405) && err.code !== 'invalid_request') {
          io.err(`mesh watch: this server has no membership feed (GET /registry/events answered ${err.status} ${err.code}); use 'mesh agents' instead\n`);
          ctx.exit(1);
          return;
        }
        throw err;
      }
    });

  program
    .command('health')
    .description('server health (version, uptime, live instances, Redis)')
    .addHelpText('after', examples('mesh health', 'mesh health --json'))
    .action(async () => {
      const h = await ctx.client().health();
      if (ctx.json()) io.out(pretty(h));
      else io.out(`${h.status}: version ${h.version}, uptime ${h.uptime_seconds}s, ${h.active_sessions} live instance(s), namespace ${h.namespace}, redis ${h.redis}\n`);
    });
}

/**
 * `inbox --follow`: the SSE stream sends each un-acked message once per connection; reconnects
 * after a broken stream (backoff) and skips what it already printed.
 */
async function follow(ctx: Context, id: string, ack: boolean): Promise<void> {
  const client = ctx.client();
  const shown = new Set<string>();
  for (let failures = 0; !ctx.signal.aborted; ) {
    try {
      for await (const m of client.stream(id, { signal: ctx.signal })) {
        failures = 0;
        if (shown.has(m.message_id)) continue;
        shown.add(m.message_id);
        print(ctx, m);
        if (ack) await client.ack(id, [m.message_id], { signal: ctx.signal });
      }
    } catch (err) {
      if (interrupted(ctx, err)) return;
      if (!(err instanceof MeshNetworkError)) throw err;
    }
    failures++;
    try {
      await delay(100 + backoffDelay(Math.min(failures, 6), 200, 5000), ctx.signal);
    } catch {
      return;
    }
  }
}

function print(ctx: Context, m: AgentMessage): void {
  ctx.io.out(ctx.json() ? jsonLine(m) : messageLine(m, ctx.colors));
}
