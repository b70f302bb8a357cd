// `node dist/main.js --help`: what the server reads from its environment, with the defaults, and
// nothing else (no Redis connection, no listening socket).
import { configSchema } from './config.js';
import { VERSION } from './version.js';

const scalar = (v: unknown): string =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);

export function usage(): string {
  const defaults = configSchema.safeParse({});
  const values: Record<string, unknown> = defaults.success ? defaults.data : {};
  const lines = Object.keys(configSchema.shape).map((name) => {
    const v = values[name];
    const shown = v === undefined ? '(unset)' : Array.isArray(v) ? (v.length ? v.join(',') : '(none)') : scalar(v);
    return `  ${name.padEnd(26)} ${shown}`;
  });
  return [
    `agent-mesh registry ${VERSION}`,
    '',
    'Usage: node dist/main.js            (configuration from environment variables)',
    '       node dist/main.js --help     (this text)   --version',
    '',
    'Environment variables and their defaults (README.md, "Configuration", explains each):',
    ...lines,
    '',
  ].join('\n');
}
