// Every error leaves as JSON `{ error, code, ... }` with a 4xx/5xx status: domain errors by their
// code (status and headers from error-status.ts), validation failures naming the offending field,
// Redis outages as 503 + Retry-After; only true bugs are 500 (logged, without stack traces in the
// body).
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { MeshDomainError } from '../../errors.js';
import { redisFailure } from '../../registry/failures.js';
import { httpError } from '../error-status.js';

interface ZodIssueLike {
  path?: (string | number)[];
  instancePath?: string;
  message: string;
}

function describeValidation(err: FastifyError & { validation: unknown[]; validationContext?: string }): {
  message: string;
  issues: { field: string; message: string }[];
} {
  const where = err.validationContext ?? 'request';
  const issues = (err.validation as ZodIssueLike[]).map((i) => {
    const path = i.instancePath ? i.instancePath.replace(/^\//, '').replace(/\//g, '.') : (i.path ?? []).join('.');
    return { field: path ? `${where}.${path}` : where, message: i.message };
  });
  const message = issues.map((i) => `${i.field}: ${i.message}`).join('; ') || 'invalid request';
  return { message, issues };
}

function send(reply: FastifyReply, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  for (const [k, v] of Object.entries(headers)) reply.header(k, v);
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

async function errorsPlugin(app: FastifyInstance): Promise<void> {
  const sendDomainError = (reply: FastifyReply, err: MeshDomainError) => {
    const { status, body, headers } = httpError(err);
    return send(reply, status, body, headers);
  };

  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof MeshDomainError) return sendDomainError(reply, err);
    if (hasZodFastifySchemaValidationErrors(err)) {
      const { message, issues } = describeValidation(err);
      return send(reply, 400, { error: message, code: 'invalid_request', issues });
    }
    const redis = redisFailure(err);
    if (redis) {
      if (redis.kind === 'unavailable') request.log.warn({ err }, 'redis unavailable');
      // The message only: the error's command would put the whole script source in the log line.
      else request.log.warn({ redisError: err.message }, 'redis out of memory: write refused');
      return sendDomainError(reply, redis.error);
    }
    switch (err.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return send(reply, 413, { error: 'Request body is too large', code: 'payload_too_large' });
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return send(reply, 415, { error: 'Content-Type must be application/json', code: 'unsupported_media_type' });
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return send(reply, 400, { error: 'Request body is empty but Content-Type is application/json', code: 'invalid_json' });
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return send(reply, 400, { error: `Request body is not valid JSON: ${err.message}`, code: 'invalid_json' });
      default:
        break;
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code = err instanceof SyntaxError ? 'invalid_json' : (err.code ?? 'bad_request').toLowerCase();
      return send(reply, status, { error: err.message, code });
    }
    request.log.error({ err }, 'unhandled error');
    return send(reply, 500, { error: 'Internal server error', code: 'internal' });
  });

  app.setNotFoundHandler((request, reply) =>
    send(reply, 404, { error: `Route ${request.method} ${request.url.split('?')[0]} not found`, code: 'not_found' }),
  );
}

export default fp(errorsPlugin, { name: 'errors' });
