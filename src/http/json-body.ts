// The JSON body parser: Fastify's own (prototype-poisoning checks included), behind a nesting-depth
// scan. JSON.parse of a hostile body nested hundreds of thousands of levels deep takes most of a
// second of CPU before any schema runs, enough for a few clients to starve the replica
// (docs/performance.md has the figures). The scan stops at the first bracket past the limit, so
// such a body costs microseconds; a legitimate body costs one linear pass over its characters.
import type { FastifyInstance } from 'fastify';
import { errors } from '../errors.js';

const OPEN_OBJECT = 0x7b; // {
const OPEN_ARRAY = 0x5b; // [
const CLOSE_OBJECT = 0x7d; // }
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * Whether the JSON text nests objects/arrays deeper than `max` levels. Brackets inside strings do
 * not count. Invalid JSON is left for the parser to reject: the scan only looks at nesting.
 */
export function jsonNestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (c === QUOTE) inString = true;
    else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > max) return true;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) depth--;
  }
  return false;
}

/** Replaces the application/json parser with Fastify's default one behind the depth scan. */
export function installJsonBodyParser(app: FastifyInstance, maxDepth: number): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (jsonNestsDeeperThan(text, maxDepth)) {
      done(errors.jsonTooDeep(maxDepth), undefined);
      return;
    }
    // Callback style: the parser reports through `done` (its Promise return type is for async parsers).
    void parse(request, text, done);
  });
}
