// What every `mesh` command gets: where to write, colours, the interrupt signal, the --json switch,
// the client (made on first use from the global options) and how to set the exit code; and the
// argument helpers the commands share.
import { MeshApiError } from '../errors.js';
import { toMessageType, type MessageTypeName } from '../message-types.js';
import type { Json, MessageType } from '../types.js';
import type { MeshClient } from '../client.js';
import { UsageError } from './args.js';
import type { Colors } from './format.js';

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

export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

export function messageTypeArg(raw: string): MessageType {
  try {
    return toMessageType(raw as MessageTypeName);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function payloadArg(raw: string): Json {
  try {
    return JSON.parse(raw) as Json;
  } catch (err) {
    throw new UsageError(`<json> is not valid JSON (${(err as Error).message}); quote it, e.g. '{"q":"hi"}'`);
  }
}

/** Ends quietly when the user interrupts (Ctrl-C) a command that follows a stream. */
export function interrupted(ctx: Context, err: unknown): boolean {
  return ctx.signal.aborted && !(err instanceof MeshApiError);
}
