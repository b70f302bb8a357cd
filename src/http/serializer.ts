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

export function compileFastSerializer(schema: z.ZodType): Serialize {
  let fn = compiled.get(schema);
  if (!fn) {
    const json = z.toJSONSchema(schema, { target: 'draft-7', io: 'output', unrepresentable: 'any' });
    fn = fastJson(json as fastJson.AnySchema) as Serialize;
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
