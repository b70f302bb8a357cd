// OpenAPI 3 generated from the routes' own zod schemas (@fastify/swagger + the zod type provider's
// jsonSchemaTransform), served at GET /openapi.json, with browsable docs at GET /docs.
// Register it BEFORE the routes: both @fastify/swagger and the hook below learn about routes in
// onRoute.
//
// The hook adds the error answers that the errors plugin can give on any route to every route's
// response schema, so the document lists them without each route repeating them:
//   500 internal, 503 unavailable (Redis down)       every route
//   400 invalid_request                               routes that validate params, query, headers or body
//   413 payload_too_large, 415 unsupported_media_type routes with a body
//   507 insufficient_storage (Redis full)            routes that are not GET (writes)
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';
import { createJsonSchemaTransform, createJsonSchemaTransformObject } from 'fastify-type-provider-zod';
import type { Config } from '../../config.js';
import { wireRegistry } from '../openapi-components.js';
import { errorBody } from '../schemas.js';

export interface OpenApiDeps {
  config: Config;
  version: string;
}

export const DOCS_PREFIX = '/docs';
export const OPENAPI_PATH = '/openapi.json';

type ResponseMap = Record<string, unknown>;

/** Adds the common error responses a route can give to its response schema (declared ones win). */
export function addCommonErrors(route: Pick<RouteOptions, 'schema' | 'method'>): void {
  const schema = route.schema as ({ hide?: boolean; response?: ResponseMap } & Record<string, unknown>) | undefined;
  if (!schema || schema.hide || !schema.response) return;
  const response: ResponseMap = { ...schema.response };
  const add = (status: number) => {
    if (!(status in response) && !(String(status) in response)) response[status] = errorBody;
  };
  if (schema.body) {
    add(413);
    add(415);
  }
  if (schema.body || schema.params || schema.querystring || schema.headers) add(400);
  add(500);
  add(503);
  const methods = [route.method].flat();
  if (methods.some((m) => m !== 'GET' && m !== 'HEAD')) add(507);
  schema.response = response;
}

type Transform = ReturnType<typeof createJsonSchemaTransform>;

/**
 * Answers declared as `z.null()` have an empty body (204s, deregister's 404): the zod transform
 * would document them as a JSON `null`; `type: 'null'` makes @fastify/swagger list them without
 * content, which is what goes over the wire.
 */
function emptyBodies(transform: Transform): Transform {
  return (input) => {
    const out = transform(input) as { schema?: { response?: Record<string, unknown> } } & ReturnType<Transform>;
    const declared = (input.schema as { response?: Record<string, unknown> } | undefined)?.response;
    const response = out.schema?.response;
    if (!declared || !response) return out;
    for (const [status, schema] of Object.entries(declared)) {
      if (schema instanceof z.ZodNull) response[status] = { type: 'null', description: schema.description ?? 'Empty body' };
    }
    return out;
  };
}

type TransformObject = ReturnType<typeof createJsonSchemaTransformObject>;

/**
 * The zod transform emits an input (`NameInput`) and an output (`Name`) component for every
 * registered schema; keep only those a route (or another kept component) refers to.
 */
function referencedOnly(transformObject: TransformObject): TransformObject {
  return (input) => {
    const doc = transformObject(input) as ReturnType<TransformObject> & { components?: { schemas?: Record<string, unknown> } };
    const schemas = doc.components?.schemas;
    if (!schemas) return doc;
    const refs = (value: unknown): string[] => [...JSON.stringify(value).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    const keep = new Set<string>();
    const queue = refs((doc as { paths?: unknown }).paths ?? {});
    for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
      if (keep.has(name)) continue;
      keep.add(name);
      queue.push(...refs(schemas[name]));
    }
    doc.components!.schemas = Object.fromEntries(Object.entries(schemas).filter(([name]) => keep.has(name)));
    return doc;
  };
}

async function openapiPlugin(app: FastifyInstance, { config, version }: OpenApiDeps): Promise<void> {
  app.addHook('onRoute', (route) => addCommonErrors(route));

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'agent-mesh registry',
        description:
          'Redis-backed registry and message mesh for AI agents, wire-compatible with the spec-ai mesh. ' +
          'Every error is JSON `{error, code, ...}`.',
        version,
      },
      tags: [
        { name: 'registry', description: 'Membership, heartbeats, leader and the membership feed' },
        { name: 'messages', description: 'Targeted, broadcast and capability-routed messages' },
        { name: 'a2a', description: "A2A v1.0 Agent Cards: each live agent's card, and the registry's own at the well-known URI" },
        { name: 'health', description: 'Liveness and readiness' },
        { name: 'operations', description: 'Metrics for Prometheus' },
      ],
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description:
              'AUTH_MODE=token: a token from AUTH_TOKENS/ADMIN_TOKENS. AUTH_MODE=instance: the instance token that ' +
              'register returned (or an admin token). Not needed with AUTH_MODE=none.',
          },
          metricsToken: {
            type: 'http',
            scheme: 'bearer',
            description: 'GET /metrics when METRICS_TOKEN is set',
          },
        },
      },
      ...(config.AUTH_MODE === 'none' ? {} : { security: [{ bearer: [] }] }),
    },
    // Shared wire schemas become named components (openapi-components.ts).
    transform: emptyBodies(createJsonSchemaTransform({ schemaRegistry: wireRegistry })),
    transformObject: referencedOnly(createJsonSchemaTransformObject({ schemaRegistry: wireRegistry })),
  });

  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    logLevel: 'warn',
    // Headers (CSP included) are the security plugin's job: its /docs policy admits the UI's assets.
  });

  app.get(OPENAPI_PATH, { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) =>
    reply.type('application/json; charset=utf-8').send(JSON.stringify(app.swagger())),
  );
}

export default fp(openapiPlugin, { name: 'openapi' });
