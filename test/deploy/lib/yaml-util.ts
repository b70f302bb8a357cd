// Small typed helpers for walking parsed YAML/JSON without `any`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** A value as text for messages: scalars as String() writes them, objects and arrays as JSON. */
export function show(v: unknown): string {
  return v === null || v === undefined || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
    ? String(v)
    : JSON.stringify(v);
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Value at a path of keys/indexes, or undefined when any step is missing. */
export function at(v: unknown, ...steps: (string | number)[]): Json | undefined {
  let cur: unknown = v;
  for (const s of steps) {
    if (typeof s === 'number') {
      if (!Array.isArray(cur)) return undefined;
      cur = cur[s];
    } else {
      if (!isObject(cur)) return undefined;
      cur = cur[s];
    }
  }
  return cur as Json | undefined;
}

export function objAt(v: unknown, ...steps: (string | number)[]): JsonObject | undefined {
  const r = at(v, ...steps);
  return isObject(r) ? r : undefined;
}

export function arrAt(v: unknown, ...steps: (string | number)[]): Json[] {
  const r = at(v, ...steps);
  return Array.isArray(r) ? r : [];
}

export function strAt(v: unknown, ...steps: (string | number)[]): string | undefined {
  const r = at(v, ...steps);
  return typeof r === 'string' ? r : undefined;
}

/** String-valued map (labels, ConfigMap data); non-string values are dropped. */
export function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObject(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

/**
 * Parses every document of a YAML stream. `merge: true` resolves `<<: *anchor` merge keys
 * the way docker compose does (YAML 1.1 semantics). Throws on the first syntax error.
 */
export function parseYamlDocs(text: string, source: string, opts: { merge?: boolean } = {}): Json[] {
  const docs = parseAllDocuments(text, { merge: opts.merge ?? false, uniqueKeys: true });
  const out: Json[] = [];
  for (const d of Array.isArray(docs) ? docs : [docs]) {
    const first = d.errors[0];
    if (first) throw new Error(`${source}: YAML error: ${first.message.split('\n')[0]}`);
    const js: unknown = d.toJS({ maxAliasCount: 1000 });
    if (js !== null && js !== undefined) out.push(js as Json);
  }
  return out;
}

export function readYamlFile(file: string, opts: { merge?: boolean } = {}): Json[] {
  return parseYamlDocs(readFileSync(file, 'utf8'), file, opts);
}
