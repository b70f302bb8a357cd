// GET /ui: the operator console, a static single-page app (ui/, built by scripts/build-ui.mjs at
// `npm run build` into dist/ui). It only calls the public API from the browser, so it works behind
// the load balancer and shows the same truth on every replica. The few files are read once at
// startup and served from memory: the page with `no-cache` (revalidated by ETag, so a new build
// shows at the next load), the content-hashed assets as immutable. Public in every AUTH_MODE (the
// page holds no data; it asks for a token) with a CSP of its own (plugins/security.ts).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors } from '../../errors.js';
import { errorBody } from '../schemas.js';

export const UI_PATH = '/ui';
export const UI_ASSETS_ROUTE = '/ui/assets/:file';
/** Where `npm run build` puts the console: <package root>/dist/ui, from src/ and from dist/ alike. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../../dist/ui/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.map']);
const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

interface Asset {
  type: string;
  body: Buffer;
  /** Precompressed once at startup; null when it would not be smaller. */
  gzip: Buffer | null;
  etag: string;
  cacheControl: string;
}

export interface ConsoleFiles {
  index: Asset;
  assets: Map<string, Asset>;
}

function asset(path: string, cacheControl: string): Asset {
  const body = readFileSync(path);
  const ext = extname(path);
  const gz = COMPRESSIBLE.has(ext) ? gzipSync(body, { level: 9 }) : null;
  return {
    type: TYPES[ext] ?? 'application/octet-stream',
    body,
    gzip: gz && gz.length < body.length ? gz : null,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    cacheControl,
  };
}

/** The built console in `dir` (index.html + assets/), or null when it has not been built. */
export function loadConsoleFiles(dir: string): ConsoleFiles | null {
  const indexPath = join(dir, 'index.html');
  if (!existsSync(indexPath)) return null;
  const assetsDir = join(dir, 'assets');
  const assets = new Map<string, Asset>();
  if (existsSync(assetsDir)) {
    for (const name of readdirSync(assetsDir)) {
      // Names carry their content hash (app-3F9A1C2B.js): a given URL never changes content.
      if (ASSET_NAME.test(name)) assets.set(name, asset(join(assetsDir, name), 'public, max-age=31536000, immutable'));
    }
  }
  return { index: asset(indexPath, 'no-cache'), assets };
}

function send(request: FastifyRequest, reply: FastifyReply, a: Asset) {
  reply.header('cache-control', a.cacheControl).header('etag', a.etag).header('vary', 'accept-encoding');
  if (request.headers['if-none-match'] === a.etag) return reply.code(304).send();
  const gzipOk = a.gzip !== null && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
  if (gzipOk) reply.header('content-encoding', 'gzip');
  return reply.type(a.type).send(gzipOk ? a.gzip : a.body);
}

const notBuilt = errors.consoleNotBuilt;

export interface UiRouteDeps {
  /** The built console; default DEFAULT_UI_DIR. */
  dir: string;
}

export const uiRoutes: FastifyPluginAsyncZod<UiRouteDeps> = async (app, { dir }) => {
  const files = loadConsoleFiles(dir);
  if (!files) app.log.warn({ dir }, 'no built console found: GET /ui answers 404 (run npm run build)');
  const notModified = z.null().meta({ description: 'Not modified (If-None-Match matched the ETag)' });

  app.get(
    UI_PATH,
    {
      schema: {
        summary: 'The operator console (a web page: agents, leader, events, totals, live)',
        operationId: 'getConsole',
        tags: ['operations'],
        response: {
          200: { description: 'the page', content: { 'text/html': { schema: z.string() } } },
          304: notModified,
          404: errorBody,
        },
      },
      logLevel: 'warn',
    },
    async (request, reply) => {
      if (!files) throw notBuilt();
      return send(request, reply, files.index);
    },
  );

  app.get(
    UI_ASSETS_ROUTE,
    {
      schema: {
        summary: "The console's scripts, styles and icon (content-hashed names, cached for a year)",
        operationId: 'getConsoleAsset',
        tags: ['operations'],
        params: z.object({ file: z.string().regex(ASSET_NAME, 'must be an asset file name') }),
        response: {
          200: { description: 'the file', content: { 'application/octet-stream': { schema: z.string() } } },
          304: notModified,
          404: errorBody,
        },
      },
      logLevel: 'warn',
    },
    async (request, reply) => {
      if (!files) throw notBuilt();
      const a = files.assets.get(request.params.file);
      if (!a) throw errors.notFound(`No console asset '${request.params.file}'`);
      return send(request, reply, a);
    },
  );
};
