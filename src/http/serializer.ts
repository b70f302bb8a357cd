// A faster response serializer for the hot routes. The zod response schemas stay the single source
// of truth (request validation, OpenAPI, TypeScript types); this compiles each one once into
// JSON Schema (z.toJSONSchema, output side) and then into a fast-json-stringify function, the
// serializer Fastify uses by default for JSON Schema routes.
//
// Why: fastify-type-provider-zod's serializer re-validates every answer with zod (safeEncode) and
// then calls JSON.stringify: many times slower than a compiled serializer, plus the garbage of
// zod's copies (docs/performance.md, "fast-json-stringify for hot routes").
// What stays the same: only the schema's fields are written (unknown keys are dropped, as zod
// strips them), in the schema's order, and a missing required field still fails the request.
import fastJson from 'fast-json-stringify';
import type { FastifyRouteSchemaDef } from 'fastify/types/schema.js';
import { z } from 'zod';

type Serialize = (data: unknown) => string;

const compiled = new WeakMap<object, Serialize>();

type JsonSchema = { type?: unknown; items?: unknown; properties?: Record<string, JsonSchema> } & Record<string, unknown>;

const isStringArray = (p: JsonSchema): boolean =>
  p.type === 'array' && typeof p.items === 'object' && p.items !== null && (p.items as JsonSchema).type === 'string';

/**
 * Top-level arrays of strings (a broadcast's `delivered_to`, id lists) are written by
 * JSON.stringify: fast-json-stringify writes them element by element, 3-5x slower, which for a
 * 100k-recipient broadcast answer held the replica's event loop ~12-20 ms instead of ~4 ms. A
 * property without a type is exactly that in fast-json-stringify; the output is the same
 * (checked by test/unit/http/serializer.test.ts), and required fields are still enforced.
 */
function withStringArraysAsJson(json: JsonSchema): JsonSchema {
  if (json.type !== 'object' || !json.properties) return json;
  const properties = Object.fromEntries(Object.entries(json.properties).map(([k, p]) => [k, isStringArray(p) ? {} : p]));
  return { ...json, properties };
}

export function compileFastSerializer(schema: z.ZodType): Serialize {
  let fn = compiled.get(schema);
  if (!fn) {
    const json = z.toJSONSchema(schema, { target: 'draft-7', io: 'output', unrepresentable: 'any' }) as JsonSchema;
    fn = fastJson(withStringArraysAsJson(json) as fastJson.AnySchema) as Serialize;
    compiled.set(schema, fn);
  }
  return fn;
}

/**
 * Route option `serializerCompiler` for routes whose response schemas are zod schemas. Generic
 * because Fastify types the option with the whole route schema, while at run time it is called
 * once per response status with that status' schema.
 */
export function fastSerializerCompiler<T>({ schema, method, url }: FastifyRouteSchemaDef<T>): Serialize {
  if (!(schema instanceof z.ZodType)) throw new Error(`${method} ${url}: fastSerializerCompiler needs zod response schemas`);
  return compileFastSerializer(schema);
}
