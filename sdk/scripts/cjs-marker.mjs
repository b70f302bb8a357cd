// dist/cjs holds CommonJS files next to a package whose "type" is "module": a nested package.json
// tells Node (and TypeScript, for the .d.ts files there) that this folder is CommonJS.
import { writeFileSync } from 'node:fs';

writeFileSync(new URL('../dist/cjs/package.json', import.meta.url), '{\n  "type": "commonjs"\n}\n');
