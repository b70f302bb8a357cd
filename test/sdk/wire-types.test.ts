// sdk/src/wire.gen.ts is generated from the server's OpenAPI document (npm run gen:types): this
// fails when a zod schema of the HTTP API changed and the SDK's types were not regenerated.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { renderWireTypes, type OpenApiDocument } from '../../scripts/sdk-types/render.js';
import { meshPerSuite } from '../helpers/app.js';

const mesh = meshPerSuite();

it('sdk/src/wire.gen.ts is what the current OpenAPI document generates (else: npm run gen:types)', async () => {
  const doc = (await mesh.apps[0]!.inject({ url: '/openapi.json' })).json<OpenApiDocument>();
  const committed = readFileSync(new URL('../../sdk/src/wire.gen.ts', import.meta.url), 'utf8');
  expect(committed).toBe(renderWireTypes(doc));
});

it('the generator refuses schemas it cannot render faithfully', () => {
  const base = { paths: {}, components: { schemas: { MessageType: { anyOf: [{ type: 'string', enum: ['Query'] }] } } } };
  expect(() =>
    renderWireTypes({ ...base, components: { schemas: { ...base.components.schemas, X: { type: 'string', not: {} } } } }),
  ).toThrow(/unsupported schema keyword not/);
  expect(() =>
    renderWireTypes({ ...base, components: { schemas: { ...base.components.schemas, X: { $ref: '#/components/schemas/Nope' } } } }),
  ).toThrow(/unresolvable/);
  expect(() => renderWireTypes({ ...base, paths: { '/x': { get: {} } } })).toThrow(/no operationId/);
  expect(renderWireTypes(base)).toContain('export const BUILTIN_MESSAGE_TYPES = ["Query"] as const;');
});
