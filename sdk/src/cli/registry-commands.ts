// `mesh` commands that read the registry (agents, agent, leader) or act on it as an operator (evict,
// watch: the membership feed, health).
import { Command, Option } from 'commander';
import { MeshApiError } from '../errors.js';
import { intArg, UsageError } from './args.js';
import { cardSummary } from './card-format.js';
import { examples, interrupted, type Context } from './context.js';
import { ago, eventJson, eventLine, instanceTable, pretty } from './format.js';

/** Reading the registry: agents, agent, leader. */
export function registryCommands(program: Command, ctx: Context): void {
  const { io, colors: c } = ctx;

  program
    .command('agents')
    .description('list live instances (all pages; the leader is marked *)')
    .option('--capability <name>', 'only instances with this capability')
    .option('--skill <id-or-tag>', 'only instances whose A2A Agent Card has a skill with this id or tag')
    .addOption(new Option('--limit <n>', 'page size while fetching (1..10000)').argParser(intArg('limit', 1, 10_000)))
    .addHelpText(
      'after',
      examples(
        'mesh agents',
        'mesh agents --capability summarize --json',
        'mesh agents --skill translate',
        "mesh agents --skill 'currency conversion'",
      ),
    )
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
    .addHelpText(
      'after',
      examples('mesh agent worker-1', 'mesh agent worker-1 --json', 'mesh agent worker-1 --card', 'mesh agent worker-1 --card --json'),
    )
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
}

/** Operator actions and views: evict, watch, health. */
export function operatorCommands(program: Command, ctx: Context): void {
  const { io, colors: c } = ctx;

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
        for await (const ev of ctx
          .client()
          .events({ signal: ctx.signal, reconnect: true, ...(o.since !== undefined ? { lastEventId: o.since } : {}) })) {
          io.out(ctx.json() ? eventJson(ev) : eventLine(ev, c));
        }
      } catch (err) {
        if (interrupted(ctx, err)) return;
        if (err instanceof MeshApiError && (err.status === 404 || err.status === 405) && err.code !== 'invalid_request') {
          io.err(
            `mesh watch: this server has no membership feed (GET /registry/events answered ${err.status} ${err.code}); use 'mesh agents' instead\n`,
          );
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
      else
        io.out(
          `${h.status}: version ${h.version}, uptime ${h.uptime_seconds}s, ${h.active_sessions} live instance(s), namespace ${h.namespace}, redis ${h.redis}\n`,
        );
    });
}
