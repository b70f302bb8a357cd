// `npm run gen:types`: regenerates sdk/src/wire.gen.ts from the server's OpenAPI document.
// Run it after changing a zod schema of the HTTP API (test/sdk/wire-types.test.ts says when).
import { writeFileSync } from 'node:fs';
import { openApiDocument } from './sdk-types/document.js';
import { renderWireTypes } from './sdk-types/render.js';

export const WIRE_TYPES_FILE = new URL('../sdk/src/wire.gen.ts', import.meta.url);

const text = renderWireTypes(await openApiDocument());
writeFileSync(WIRE_TYPES_FILE, text);
process.stdout.write(`wrote ${WIRE_TYPES_FILE.pathname} (${text.length} bytes)\n`);
