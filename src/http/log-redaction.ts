// What request log lines may show of a URL. Bearer tokens belong in headers (which are redacted),
// but clients do put them in query strings (`?token=`, `?access_token=`): the request URL is
// logged on every request, so only the query parameters the API defines keep their values; any
// other parameter is logged as `[redacted]`.
import type { FastifyRequest } from 'fastify';

/** Query parameters of the API: none carries a secret. */
const API_QUERY_PARAMS = new Set(['limit', 'cursor', 'wait', 'capability', 'skill', 'since', 'format', 'after']);

export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const parts = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // undecodable name: redact it like any unknown one
      }
      return eq < 0 || API_QUERY_PARAMS.has(decoded) ? pair : `${name}=[redacted]`;
    });
  return `${url.slice(0, q)}?${parts.join('&')}`;
}

/** pino `req` serializer: Fastify's fields, with the URL passed through redactUrl. */
export function serializeRequest(req: FastifyRequest): Record<string, unknown> {
  return {
    method: req.method,
    // Some log lines carry a raw request without a URL.
    url: typeof req.url === 'string' ? redactUrl(req.url) : req.url,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket ? req.socket.remotePort : undefined,
  };
}
