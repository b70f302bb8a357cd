// Offline docker-compose.yml validation against the official Compose Specification JSON
// schema (the same schema `docker compose config` validates with). The schema is the copy
// shipped in the dclint package (a maintained compose linter that tracks compose-spec).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { isObject, PROJECT_ROOT, readYamlFile, show, type Json, type JsonObject } from './yaml-util.js';

function composeSchema(): JsonObject {
  // dclint's `exports` does not expose schemas/, so read the file from the package directory.
  let dir = PROJECT_ROOT;
  for (;;) {
    const p = path.join(dir, 'node_modules', 'dclint', 'schemas', 'compose.schema.json');
    try {
      const schema: unknown = JSON.parse(readFileSync(p, 'utf8'));
      if (!isObject(schema)) throw new Error(`${p}: not a JSON object`);
      return schema;
    } catch (e: unknown) {
      if (!(e instanceof Error && 'code' in e && e.code === 'ENOENT')) throw e;
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('dclint/schemas/compose.schema.json not found (npm install)');
    dir = up;
  }
}

let compiled: ReturnType<Ajv['compile']> | null = null;

function validator(): ReturnType<Ajv['compile']> {
  if (compiled) return compiled;
  // The schema declares `$schema: https://json-schema.org/draft-07/schema`, which ajv only
  // knows under its http:// id; the dialect is draft-07 either way, ajv's default.
  const { $schema: _ignored, ...schema } = composeSchema();
  // strict: false because the spec uses annotation keywords ajv does not know (deprecated).
  const ajv = new Ajv({ allErrors: true, strict: false });
  compiled = ajv.compile(schema);
  return compiled;
}

/**
 * Compose interpolation of `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$VAR` and `$$`,
 * applied to every string, as compose does before validating. Unset variables are "".
 */
export function interpolate(v: Json, env: Record<string, string | undefined>): Json {
  if (typeof v === 'string') {
    return v.replace(
      /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
      (m, braced: string | undefined, op: string | undefined, def: string | undefined, bare: string | undefined) => {
        if (m === '$$') return '$';
        const name = braced ?? bare ?? '';
        const val = env[name];
        if (op === ':-') return val === undefined || val === '' ? (def ?? '') : val;
        if (op === '-') return val === undefined ? (def ?? '') : val;
        return val ?? '';
      },
    );
  }
  if (Array.isArray(v)) return v.map((x) => interpolate(x, env));
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x, env)]));
  return v;
}

/** Loads a compose file as docker compose does: merge keys resolved, variables interpolated. */
export function loadCompose(file: string, env: Record<string, string | undefined> = {}): JsonObject {
  const [doc] = readYamlFile(file, { merge: true });
  if (!isObject(doc)) throw new Error(`${file}: not a mapping`);
  const out = interpolate(doc, env);
  if (!isObject(out)) throw new Error(`${file}: not a mapping`);
  return out;
}

export function validateCompose(doc: JsonObject): string[] {
  const validate = validator();
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e: ErrorObject) => {
    const extra = e.keyword === 'additionalProperties' ? ` "${show(e.params.additionalProperty)}"` : '';
    return `${e.instancePath || '/'}: ${e.message ?? e.keyword}${extra}`;
  });
}

/** `environment:` as a map, whether written as a mapping or as a list of KEY=VALUE. */
export function serviceEnv(service: Json | undefined): Record<string, string> {
  const env = isObject(service) ? service.environment : undefined;
  const out: Record<string, string> = {};
  if (Array.isArray(env)) {
    for (const e of env) {
      if (typeof e !== 'string') continue;
      const i = e.indexOf('=');
      if (i > 0) out[e.slice(0, i)] = e.slice(i + 1);
    }
  } else if (isObject(env)) {
    for (const [k, v] of Object.entries(env)) if (v !== null) out[k] = show(v);
  }
  return out;
}
