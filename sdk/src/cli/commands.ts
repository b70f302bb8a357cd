// The `mesh` commands: each declares its arguments, options and examples for commander and
// renders its answer as a table/line (default) or JSON (--json).
import type { Command } from 'commander';
import type { Context } from './context.js';
import { messageCommands } from './message-commands.js';
import { operatorCommands, registryCommands } from './registry-commands.js';

export type { Context, Io } from './context.js';

export function registerCommands(program: Command, ctx: Context): void {
  // In this order in --help.
  registryCommands(program, ctx);
  messageCommands(program, ctx);
  operatorCommands(program, ctx);
}
