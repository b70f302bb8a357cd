// Unique mesh namespaces: every test (file) gets its own key space on the shared Redis.
import { randomBytes } from 'node:crypto';

const NAMESPACE = /^[A-Za-z0-9_-]{1,64}$/; // same rule as MESH_NAMESPACE in src/config.ts

/** e.g. "t-m3x1k2a9f03c1d": prefix, time (base 36) and 32 random bits; always a valid namespace. */
export function uniqueNamespace(prefix = 't'): string {
  const ns = `${prefix}-${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
  if (!NAMESPACE.test(ns)) throw new Error(`invalid namespace prefix ${JSON.stringify(prefix)}`);
  return ns;
}
