// `mesh`: operator CLI for the agent-mesh registry, built on the SDK's MeshClient and commander
// (per-command --help with examples, "did you mean" for unknown commands and options).
// Exit codes: 0 ok, 1 the server answered with an error, 2 usage error, 3 could not reach the server.
import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { MeshClient } from '../client.js';
import { MeshApiError, MeshNetworkError } from '../errors.js';
import { intArg, UsageError } from './args.js';
import { registerCommands, type Context, type Io } from './commands.js';
import { colorsFor } from './format.js';

export const EXIT_OK = 0;
export const EXIT_API = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONNECT = 3;

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export type { Io } from './commands.js';

interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
  timeout?: number;
  retries?: number;
}

function version(): string {
  // dist/esm/cli/cli.js -> the package's own package.json
  const pkg = createRequire(import.meta.url)('../../../package.json') as { version?: string };
  return pkg.version ?? '0.0.0';
}

const EXAMPLES = `
Examples:
  $ mesh agents                                  live instances, leader marked *
  $ mesh agents --capability summarize --json
  $ mesh agents --skill translate                live instances whose A2A card has the skill
  $ mesh agent translator-1 --card               its A2A Agent Card
  $ mesh send planner worker-1 Query '{"q":"hi"}'
  $ mesh request planner --capability summarize Query '{"text":"..."}'
  $ mesh inbox worker-1 --follow
  $ mesh watch --since 0                         replay the retained membership history
  $ mesh evict worker-1 --token $ADMIN_TOKEN

Environment: MESH_URL (default ${DEFAULT_URL}), MESH_TOKEN, NO_COLOR.
Exit codes: 0 ok, 1 the server answered with an error, 2 usage error, 3 could not reach the server.
`;

function buildProgram(io: Io, env: Record<string, string | undefined>, signal: AbortSignal, result: { code: number }): Command {
  const program = new Command('mesh');
  const colors = colorsFor(env, io.isTty ?? false);
  let client: MeshClient | null = null;
  const ctx: Context = {
    io,
    colors,
    signal,
    json: () => program.opts<GlobalOptions>().json === true,
    client: () => {
      if (client) return client;
      const o = program.opts<GlobalOptions>();
      try {
        client = new MeshClient({
          url: o.url ?? env.MESH_URL ?? DEFAULT_URL,
          token: o.token ?? (env.MESH_TOKEN || null),
          timeoutMs: o.timeout ?? 10_000,
          retries: o.retries ?? 1,
          retryMaxMs: 1000,
        });
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      return client;
    },
    exit: (code) => {
      result.code = code;
    },
  };

  program
    .usage('<command> [options]')
    .description('Operator CLI for the agent-mesh registry')
    .version(version(), '-v, --version', 'print the CLI version')
    .helpOption('-h, --help', 'show help (also: mesh <command> --help)')
    .addOption(new Option('--url <url>', `registry URL (env MESH_URL, default ${DEFAULT_URL})`))
    .addOption(new Option('--token <token>', 'bearer token (env MESH_TOKEN)'))
    .addOption(new Option('--json', 'machine-readable JSON output (one JSON document per line when following)'))
    .addOption(new Option('--timeout <ms>', 'per-request timeout in ms (default 10000)').argParser(intArg('timeout', 1, 3_600_000)))
    .addOption(new Option('--retries <n>', 'retries of idempotent requests (default 1)').argParser(intArg('retries', 0, 10)))
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .addHelpText('after', EXAMPLES)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
      // Errors are printed by main() with the exit code's wording; commander only reports them.
      outputError: () => undefined,
    });
  registerCommands(program, ctx);
  return program;
}

/** The command path for messages: "mesh", "mesh agents", ... */
function commandName(argv: string[], program: Command): string {
  const first = argv.find((a) => !a.startsWith('-'));
  return first && program.commands.some((c) => c.name() === first) ? `mesh ${first}` : 'mesh';
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function main(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
  io: Io = defaultIo(),
  signal: AbortSignal = new AbortController().signal,
): Promise<number> {
  const result = { code: EXIT_OK };
  const program = buildProgram(io, env, signal, result);
  const prefix = commandName(argv, program);
  const usage = (message: string) => {
    io.err(`${prefix}: ${message}\nRun '${prefix} --help' for usage.\n`);
    return EXIT_USAGE;
  };
  if (argv.length === 0) return usage('missing command');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return result.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end the parse through the same path, with exit code 0.
      if (err.exitCode === 0) return EXIT_OK;
      return usage(err.message.replace(/^error: /, ''));
    }
    if (err instanceof UsageError) return usage(err.message);
    if (err instanceof MeshApiError) {
      io.err(`${prefix}: ${err.status} ${err.code}: ${typeof err.body?.error === 'string' ? err.body.error : err.message}\n`);
      return EXIT_API;
    }
    if (err instanceof MeshNetworkError) {
      io.err(
        `${prefix}: cannot reach the registry (${err.kind}${err.errno ? `, ${err.errno}` : ''}): ${err.method} ${err.url} ` +
          `failed after ${err.attempts} attempt(s); check --url or MESH_URL\n`,
      );
      return EXIT_CONNECT;
    }
    if (signal.aborted) return EXIT_OK;
    io.err(`${prefix}: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return EXIT_API;
  }
}

export function defaultIo(): Io {
  return {
    out: (s) => void process.stdout.write(s),
    err: (s) => void process.stderr.write(s),
    isTty: process.stdout.isTTY === true,
  };
}
