// HTTP hardening in one place: security headers (helmet), CORS (only when CORS_ORIGINS is set), no
// caching of API answers (they carry instance tokens and live state), sane request ids, a JSON
// answer for requests Node's HTTP parser rejects, and the auth guard that runs on every route.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import cors from '@fastify/cors';
import helmet from 'helmet';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import type { Auth } from './auth.js';
import { DOCS_PREFIX, OPENAPI_PATH } from './openapi.js';
import { UI_ASSETS_ROUTE, UI_PATH } from '../routes/ui.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * 'public': no bearer needed in any AUTH_MODE (the registry's A2A card: discovery comes before
     * authentication). Probes, /metrics and the console are listed in PUBLIC_ROUTES instead.
     */
    auth?: 'public';
  }
}

/** Open in every mode: probes, and /metrics, which checks METRICS_TOKEN itself. */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set(['/health', '/livez', '/readyz', '/metrics', UI_PATH, UI_ASSETS_ROUTE]);
/** Checks its own registration bearer (and the live id's instance token) in the handler. */
const REGISTER_ROUTE = '/registry/register';

const isDocs = (req: IncomingMessage): boolean => {
  const url = req.url ?? '';
  return url === DOCS_PREFIX || url.startsWith(`${DOCS_PREFIX}/`) || url.startsWith(`${DOCS_PREFIX}?`);
};

const isUi = (req: IncomingMessage): boolean => {
  const url = req.url ?? '';
  return url === UI_PATH || url.startsWith(`${UI_PATH}/`) || url.startsWith(`${UI_PATH}?`);
};

// JSON needs no scripts, styles, frames or forms: an API answer rendered by a browser runs nothing
// (every fetch directive falls back to default-src; frame-ancestors does not, so it is named).
const API_CSP: Record<string, string> = {
  'default-src': "'none'",
  'frame-ancestors': "'none'",
};
// What @fastify/swagger-ui's own staticCSP allows (its page loads self-hosted scripts only).
const DOCS_CSP: Record<string, string> = {
  'default-src': "'self'",
  'base-uri': "'self'",
  'font-src': "'self' https: data:",
  'form-action': "'self'",
  'frame-ancestors': "'self'",
  'img-src': "'self' data: validator.swagger.io",
  'object-src': "'none'",
  'script-src': "'self'",
  'script-src-attr': "'none'",
  'style-src': "'self' https: 'unsafe-inline'",
};

// The console (/ui) loads its own hashed script and stylesheet and talks to this origin's API only:
// nothing inline, nothing from elsewhere, no frames, no forms that navigate.
const UI_CSP: Record<string, string> = {
  'default-src': "'none'",
  'base-uri': "'none'",
  'connect-src': "'self'",
  'font-src': "'none'",
  'form-action': "'none'",
  'frame-ancestors': "'none'",
  'img-src': "'self'",
  'manifest-src': "'none'",
  'object-src': "'none'",
  'script-src': "'self'",
  'script-src-attr': "'none'",
  'style-src': "'self'",
};

const toDirectives = (csp: Record<string, string>) => Object.fromEntries(Object.entries(csp).map(([k, v]) => [k, [v]]));

/**
 * The security headers helmet sets for a given CSP. They do not depend on the request, so they
 * are computed once per process by running helmet against a recording response: rebuilding them
 * per request (what @fastify/helmet does) was the largest single cost of a heartbeat
 * (docs/performance.md).
 */
function helmetHeaders(csp: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  const middleware = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: toDirectives(csp) },
    // Not an HTML site: no need to open cross-origin isolation, but keep framing and sniffing shut.
    crossOriginEmbedderPolicy: false,
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  });
  let failed: unknown;
  middleware({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => {
    failed = err;
  });
  if (failed) throw failed instanceof Error ? failed : new Error(`helmet failed: ${JSON.stringify(failed)}`);
  return headers;
}

/**
 * What a JSON API answer needs of helmet's set (OWASP's REST Security Cheat Sheet): the headers
 * that protect a document a browser might render or embed. The rest (COOP, Origin-Agent-Cluster,
 * X-DNS-Prefetch-Control, X-Download-Options, X-Permitted-Cross-Domain-Policies, X-XSS-Protection)
 * concern HTML pages: the console and the docs keep them. Node validates every header of every
 * answer, so six fewer on each heartbeat is measurable (docs/performance.md).
 */
const API_HEADER_NAMES = [
  'content-security-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-frame-options',
  'referrer-policy',
  'cross-origin-resource-policy',
];
const API_HEADERS = Object.fromEntries(Object.entries(helmetHeaders(API_CSP)).filter(([name]) => API_HEADER_NAMES.includes(name)));
const DOCS_HEADERS = helmetHeaders(DOCS_CSP);
const UI_HEADERS = helmetHeaders(UI_CSP);

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Request ids this replica makes: a random per-process prefix and a counter. Unique across
 * replicas and restarts for log correlation (the prefix is 96 random bits), and cheaper than a
 * random UUID per request.
 */
const ID_PREFIX = randomUUID().replace(/-/g, '').slice(0, 24);
let idCounter = 0;
const nextRequestId = (): string => `${ID_PREFIX}-${(idCounter++).toString(36)}`;

/**
 * Fastify `genReqId`: keeps a caller's x-request-id only when it is a short token, so a hostile
 * value (newlines, megabytes) is neither echoed in a response header nor written to the logs.
 */
export function genRequestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : nextRequestId();
}

/**
 * Fastify `clientErrorHandler`: requests Node's parser rejects (bad request line, invalid header
 * bytes, oversized headers) get the same `{error, code}` JSON as everything else.
 */
export function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, text, body] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', { error: 'Request headers are too large', code: 'headers_too_large' }]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', { error: 'Request timed out', code: 'request_timeout' }]
        : [400, 'Bad Request', { error: 'Malformed HTTP request', code: 'bad_request' }];
  this.log.debug({ err: { code: err.code, message: err.message } }, 'client error');
  if (socket.writable) {
    const json = JSON.stringify(body);
    socket.write(
      `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`,
    );
  }
  socket.destroy();
}

/**
 * Fastify `frameworkErrors`: the router rejects a path before any route or hook runs (bad percent
 * encoding, a parameter longer than maxParamLength). Fastify's default answer echoes the URL in
 * its own body shape and skips our hooks; this one is the usual `{error, code}` JSON with the
 * security headers and the request id, and never echoes the path.
 */
export function frameworkErrorHandler(error: { code?: string }, request: FastifyRequest, reply: FastifyReply): void {
  const [status, body] =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? [414, { error: 'A path segment is too long', code: 'uri_too_long' }]
      : [400, { error: 'The request path is not valid URL encoding', code: 'bad_url' }];
  void reply
    .headers(API_HEADERS)
    .header('x-request-id', request.id)
    .header('cache-control', 'no-store')
    .code(status)
    .type('application/json; charset=utf-8')
    .send(body);
}

export interface SecurityOptions {
  config: Config;
  auth: Auth;
}

function guardApplies(request: FastifyRequest): 'skip' | 'register' | 'guard' {
  const url = request.routeOptions.url;
  // No route matched: the JSON 404 says no more than an unknown route exists.
  if (url === undefined) return 'skip';
  // CORS preflights never carry credentials (@fastify/cors answers them before this hook).
  if (request.method === 'OPTIONS') return 'skip';
  // The API description holds no mesh data; keeping it open lets operators browse /docs in every mode.
  if (PUBLIC_ROUTES.has(url) || url === OPENAPI_PATH || isDocs(request.raw)) return 'skip';
  if (request.routeOptions.config.auth === 'public') return 'skip';
  return url === REGISTER_ROUTE ? 'register' : 'guard';
}

async function securityPlugin(app: FastifyInstance, { config, auth }: SecurityOptions): Promise<void> {
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(isDocs(request.raw) ? DOCS_HEADERS : isUi(request.raw) ? UI_HEADERS : API_HEADERS);
    reply.header('x-request-id', request.id);
    done();
  });

  if (config.CORS_ORIGINS && config.CORS_ORIGINS.length > 0) {
    const origins = config.CORS_ORIGINS;
    await app.register(cors, {
      origin: origins.includes('*') ? '*' : origins,
      methods: ['GET', 'POST', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'x-instance-token', 'x-request-id', 'last-event-id'],
      exposedHeaders: ['x-request-id', 'retry-after'],
      // Bearer tokens travel in headers, never cookies: credentialed CORS is never needed.
      credentials: false,
      maxAge: 600,
    });
  }

  // The guard runs after CORS, so a browser can read its 401. Callback style (no promise per
  // request) for the hooks every request runs, the heartbeat's too.
  app.addHook('onRequest', (request, _reply, done) => {
    const what = auth.mode === 'none' ? 'skip' : guardApplies(request);
    if (what === 'skip') {
      done();
      return;
    }
    auth.guard(request, what === 'register').then(() => done(), done);
  });

  app.addHook('onSend', (request, reply, payload, done) => {
    // Answers hold live state and, from register, a one-time instance token: no cache may keep them.
    if (!reply.hasHeader('cache-control') && !isDocs(request.raw)) reply.header('cache-control', 'no-store');
    done(null, payload);
  });
}

export default fp(securityPlugin, { name: 'security', dependencies: ['errors'] });
