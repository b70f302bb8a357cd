// Process entry: config, logger, app, listen, graceful shutdown (SIGTERM/SIGINT: stop accepting,
// finish in-flight requests, end long-polls and streams, close BullMQ and Redis, exit 0).
import closeWithGrace from 'close-with-grace';
import { buildApp, createLogger } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { EvictionPolicyError } from './redis/eviction.js';
import { usage } from './usage.js';
import { VERSION } from './version.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(usage());
    return;
  }
  if (args.includes('--version')) {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  if (args.length > 0) {
    process.stderr.write(`unknown argument: ${args[0]} (the server is configured by environment variables; see --help)\n`);
    process.exit(2);
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config);
  const app = await buildApp(config, { logger });
  closeWithGrace({ delay: config.SHUTDOWN_TIMEOUT_MS, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'shutting down after an error');
    else logger.info({ signal }, 'shutting down');
    await app.close();
  });
  await app.listen({ port: config.PORT, host: config.HOST });
  // Only a replica that is serving writes to Redis: a port clash must leave nothing behind.
  await app.mesh.maintenance?.start();
}

main().catch((err: unknown) => {
  // A refused Redis configuration is an operator's fix, not a bug: one clear line, no stack.
  if (err instanceof EvictionPolicyError) {
    process.stderr.write(`refusing to start: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
