// GET /openapi.json: a valid OpenAPI 3 document generated from the routes' zod schemas that covers
// every route the app serves (compared with Fastify's own router), with request bodies, parameters,
// and every status a route can answer, error answers included. GET /docs serves the browsable UI.
import { validate, compileErrors } from '@readme/openapi-parser';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshPerSuite } from '../helpers/app.js';
import { match } from '../helpers/match.js';

interface Operation {
  operationId?: string;
  summary?: string;
  parameters?: { in: string; name: string }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<
    string,
    { description?: string; content?: Record<string, { schema: { $ref?: string; properties?: Record<string, unknown> } }> }
  >;
}
interface Document {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, { properties?: Record<string, unknown> }> };
}

/** Routes as the router knows them: parses printRoutes' tree (each child extends its parent's path). */
function routerRoutes(app: FastifyInstance): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:[│ ] {3})*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const path = (stack[depth - 1] ?? '') + m[2]!;
    stack[depth] = path;
    for (const method of (m[3] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean))
      out.push({ method, path });
  }
  return out;
}

/** A response schema, following a `$ref` into components.schemas. */
function resolve(schema: { $ref?: string; properties?: Record<string, unknown> } | undefined) {
  const ref = schema?.$ref && /^#\/components\/schemas\/(.+)$/.exec(schema.$ref)?.[1];
  return ref ? doc.components?.schemas?.[ref] : schema;
}

const isDocRoute = (path: string) => path === '/openapi.json' || path === '/docs' || path.startsWith('/docs/');
const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

const mesh = meshPerSuite();
let app: FastifyInstance;
let doc: Document;

beforeAll(async () => {
  app = mesh.apps[0]!;
  const res = await app.inject({ url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/application\/json/);
  doc = res.json<Document>();
});
afterAll(async () => {
  await mesh?.close();
});

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3 document', async () => {
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info.title).toBeTruthy();
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  });

  it('covers every route the router serves, and nothing else', () => {
    const served = routerRoutes(app).filter((r) => r.method !== 'HEAD' && !isDocRoute(r.path));
    // Sanity: the parse found the routes we know about.
    expect(served.length).toBeGreaterThanOrEqual(17);
    expect(served).toContainEqual({ method: 'GET', path: '/registry/events' });
    expect(served).toContainEqual({ method: 'POST', path: '/messages/:id/ack' });
    const missing = served.filter((r) => !doc.paths[toOpenApiPath(r.path)]?.[r.method.toLowerCase()]);
    expect(missing).toEqual([]);
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    expect(documented.sort()).toEqual(served.map((r) => `${r.method} ${toOpenApiPath(r.path)}`).sort());
  });

  it('documents bodies, parameters and every answer, errors included', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect(op.summary, where).toBeTruthy();
        const statuses = Object.keys(op.responses);
        expect(
          statuses.some((s) => s.startsWith('2')),
          where,
        ).toBe(true);
        // The errors plugin can answer these on any route.
        expect(statuses, where).toEqual(match.arrayContaining(['500', '503']));
        // Path parameters are declared, and a route that validates input documents its 400.
        for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((x) => x[1])) {
          expect(
            op.parameters?.some((p) => p.in === 'path' && p.name === name),
            `${where} param ${name}`,
          ).toBe(true);
        }
        if (op.parameters?.length || op.requestBody) expect(statuses, where).toContain('400');
        if (op.requestBody) {
          expect(op.requestBody.content['application/json'], where).toBeTruthy();
          expect(statuses, where).toEqual(match.arrayContaining(['413', '415']));
        }
        // Every 4xx/5xx is the `{error, code}` shape, but for the answers the wire contract or the
        // probes fix: heartbeat's 404 `{acknowledged: false, ...}` and /readyz's 503 `{status, reason}`.
        const fixedByContract = (x: string) => (path === '/readyz' && x === '503') || (path === '/registry/heartbeat/{id}' && x === '404');
        for (const s of statuses.filter((x) => /^[45]/.test(x) && !fixedByContract(x))) {
          const schema = resolve(op.responses[s]!.content?.['application/json']?.schema);
          expect(schema, `${where} ${s}`).toBeTruthy();
          if (schema) expect(Object.keys(schema.properties ?? {}), `${where} ${s}`).toEqual(match.arrayContaining(['error', 'code']));
        }
      }
    }
  });

  it('spells out the contract routes and the additive ones', () => {
    const register = doc.paths['/registry/register']!.post!;
    expect(register.requestBody).toBeTruthy();
    expect(Object.keys(register.responses)).toEqual(match.arrayContaining(['200', '400', '409']));
    const hb = doc.paths['/registry/heartbeat/{id}']!.post!;
    expect(Object.keys(hb.responses)).toEqual(match.arrayContaining(['200', '404']));
    expect(Object.keys(doc.paths['/registry/deregister/{id}']!.delete!.responses)).toEqual(match.arrayContaining(['204', '404']));
    expect(Object.keys(doc.paths['/messages/send/{source_id}']!.post!.responses)).toEqual(match.arrayContaining(['200', '400', '429']));
    const events = doc.paths['/registry/events']!.get!;
    expect(Object.keys(events.responses['200']!.content ?? {}).sort()).toEqual(['application/json', 'text/event-stream']);
    expect(events.parameters?.map((p) => `${p.in}:${p.name}`)).toEqual(
      match.arrayContaining(['query:since', 'query:format', 'query:wait', 'header:last-event-id']),
    );
    const metrics = doc.paths['/metrics']!.get!;
    expect(Object.keys(metrics.responses['200']!.content ?? {})).toEqual(['text/plain']);
    expect(Object.keys(metrics.responses)).toContain('401');
  });
});

describe('GET /openapi.json for client generators', () => {
  it('names every operation once (stable operationIds)', () => {
    const ids = Object.entries(doc.paths).flatMap(([p, ops]) => Object.entries(ops).map(([m, op]) => [op.operationId, `${m} ${p}`]));
    expect(ids.filter(([id]) => !id)).toEqual([]);
    expect(new Set(ids.map(([id]) => id)).size).toBe(ids.length);
    expect(doc.paths['/registry/register']!.post!.operationId).toBe('register');
    expect(doc.paths['/messages/send/{source_id}']!.post!.operationId).toBe('sendMessage');
  });

  it('shares the wire schemas as components, referenced from the routes', () => {
    const schemas = doc.components?.schemas ?? {};
    expect(Object.keys(schemas)).toEqual(
      match.arrayContaining([
        'MeshInstance',
        'AgentMessage',
        'MessageType',
        'RegisterRequestInput',
        'RegisterResponse',
        'SendRequestInput',
        'ErrorBody',
      ]),
    );
    expect(doc.paths['/registry/agents']!.get!.responses['200']!.content!['application/json']!.schema.$ref).toBe(
      '#/components/schemas/AgentsResponse',
    );
    expect(doc.paths['/registry/register']!.post!.requestBody!.content['application/json']!.schema).toEqual({
      $ref: '#/components/schemas/RegisterRequestInput',
    });
    // Only what a route (or another component) refers to.
    const text = JSON.stringify({ paths: doc.paths, schemas });
    for (const name of Object.keys(schemas)) expect(text, name).toContain(`"#/components/schemas/${name}"`);
  });

  it('gives streams and empty answers their real content types', () => {
    const stream = doc.paths['/messages/{id}/stream']!.get!.responses['200']!;
    expect(Object.keys(stream.content ?? {})).toEqual(['text/event-stream']);
    // Deregister answers 204 with an empty body and 404 with the JSON error (seed clients read only
    // its status); acks 204.
    const deregister = doc.paths['/registry/deregister/{id}']!.delete!.responses;
    expect(deregister['204']!.content).toBeUndefined();
    expect(deregister['404']!.content?.['application/json']?.schema).toEqual({ $ref: '#/components/schemas/ErrorBody' });
    expect(doc.paths['/messages/ack/{id}']!.post!.responses['204']!.content).toBeUndefined();
  });

  it('the documented JSON 404 is what DELETE answers for an unknown id', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/registry/deregister/nobody-here' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'instance_not_found' });
  });
});

describe('GET /docs', () => {
  it('serves the browsable documentation', async () => {
    const res = await app.inject({ url: '/docs' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).toMatch(/swagger/i);
    // The UI loads the same document.
    const json = await app.inject({ url: '/docs/json' });
    expect(json.statusCode).toBe(200);
    expect(Object.keys(json.json<Document>().paths).sort()).toEqual(Object.keys(doc.paths).sort());
  });
});
