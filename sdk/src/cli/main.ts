#!/usr/bin/env node
// Executable of the `mesh` CLI (package "bin"): runs cli.ts's main() with this process's
// arguments and environment; Ctrl-C ends a long-running command (watch, inbox --follow/--wait)
// cleanly, a second Ctrl-C exits at once.
import { defaultIo, main } from './cli.js';

const controller = new AbortController();
let interrupted = false;
const onSignal = () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  controller.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
void main(process.argv.slice(2), process.env, defaultIo(), controller.signal).then((code) => {
  process.exitCode = code;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
});
