// `mesh` commands that send and read messages as an instance: send, request and inbox (--follow
// streams).
import { Command, Option } from 'commander';
import { backoffDelay } from '../backoff.js';
import { delay } from '../delay.js';
import { MeshNetworkError } from '../errors.js';
import type { AgentMessage } from '../types.js';
import { intArg, UsageError } from './args.js';
import { examples, interrupted, messageTypeArg, payloadArg, type Context } from './context.js';
import { jsonLine, messageLine, messageTable, pretty } from './format.js';

export function messageCommands(program: Command, ctx: Context): void {
  const { io, colors: c } = ctx;

  program
    .command('send')
    .description('send a message as <source>: to <target>, to everyone (--broadcast) or to the least-loaded holder of a capability')
    .usage('<source> (<target> | --broadcast | --capability <name>) <type> <json> [options]')
    .argument('<source>', 'sending instance (must be live)')
    .argument('<args...>', '[<target>] <type> <json>; <type>: Query, Response, Notification, ... or Custom:<name>')
    .option('--broadcast', 'to every other live instance')
    .option('--capability <name>', 'to the least-loaded live instance with this capability')
    .option('--correlation-id <id>', 'correlation id to set')
    .option(
      '--idempotency-key <key>',
      'run it again with the same key: the first result comes back, nothing is sent twice (default: a new key)',
    )
    .addHelpText(
      'after',
      examples(
        `mesh send planner worker-1 Query '{"q":"hi"}'`,
        `mesh send planner --broadcast Notification '"deploying"'`,
        `mesh send planner --capability summarize Custom:job 42`,
      ),
    )
    .action(
      async (
        source: string,
        args: string[],
        o: { broadcast?: boolean; capability?: string; correlationId?: string; idempotencyKey?: string },
      ) => {
        if (o.broadcast && o.capability !== undefined) throw new UsageError('use either --broadcast or --capability, not both');
        const routed = o.broadcast === true || o.capability !== undefined;
        const names = routed ? ['type', 'json'] : ['target', 'type', 'json'];
        if (args.length !== names.length) {
          throw new UsageError(
            `expects <source> ${names.map((n) => `<${n}>`).join(' ')} (got ${[source, ...args].map((a) => JSON.stringify(a)).join(' ')})`,
          );
        }
        const [typeArg, payloadRaw] = args.slice(-2) as [string, string];
        const res = await ctx.client().send(
          source,
          {
            target_instance: routed ? null : args[0]!,
            target_capability: o.capability ?? null,
            message_type: messageTypeArg(typeArg),
            payload: payloadArg(payloadRaw),
            correlation_id: o.correlationId ?? null,
          },
          o.idempotencyKey === undefined ? {} : { idempotencyKey: o.idempotencyKey },
        );
        if (ctx.json()) io.out(pretty(res));
        else io.out(`queued ${res.message_id} -> ${res.delivered_to.length > 0 ? res.delivered_to.join(', ') : '(no recipients)'}\n`);
      },
    );

  program
    .command('request')
    .description('send a request as <source> and wait for the correlated Response (POST /messages/request)')
    .usage('<source> (<target> | --capability <name>) <type> <json> [options]')
    .argument('<source>', 'sending instance (must be live)')
    .argument('<args...>', '[<target>] <type> <json>')
    .option('--capability <name>', 'to the least-loaded live instance with this capability')
    .addOption(
      new Option('--wait <s>', 'how long to wait for the Response, in seconds (1..60, default 30)').argParser(intArg('wait', 1, 60)),
    )
    .addHelpText(
      'after',
      examples(
        `mesh request planner --capability summarize Query '{"text":"..."}'`,
        `mesh request planner worker-1 Query '"ping"' --wait 5 --json`,
      ),
    )
    .action(async (source: string, args: string[], o: { capability?: string; wait?: number }) => {
      const names = o.capability !== undefined ? ['type', 'json'] : ['target', 'type', 'json'];
      if (args.length !== names.length) {
        throw new UsageError(
          `expects <source> ${names.map((n) => `<${n}>`).join(' ')} (got ${[source, ...args].map((a) => JSON.stringify(a)).join(' ')})`,
        );
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
}

/**
 * `inbox --follow`: the SSE stream sends each un-acked message once per connection; reconnects
 * after a broken stream (backoff) and skips what it already printed.
 */
async function follow(ctx: Context, id: string, ack: boolean): Promise<void> {
  const client = ctx.client();
  const shown = new Set<string>();
  for (let failures = 0; !ctx.signal.aborted;) {
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
