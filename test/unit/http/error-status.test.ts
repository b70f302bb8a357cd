import { describe, expect, it } from 'vitest';
import { DOMAIN_ERROR_CODES, errors, MeshDomainError } from '../../../src/errors.js';
import { HTTP_STATUS, httpError } from '../../../src/http/error-status.js';
import { match } from '../../helpers/match.js';

describe('domain error codes -> HTTP', () => {
  it('every code has a 4xx or 5xx status, and only codes that exist are mapped', () => {
    expect(Object.keys(HTTP_STATUS).sort()).toEqual([...DOMAIN_ERROR_CODES].sort());
    for (const { status } of Object.values(HTTP_STATUS)) expect(status >= 400 && status < 600).toBe(true);
  });

  it('the body is error, code, then the details, in that order', () => {
    const answer = httpError(errors.sourceNotFound('a'));
    expect(answer.status).toBe(404);
    expect(JSON.stringify(answer.body)).toBe(
      JSON.stringify({
        error: "Source instance 'a' is not registered (or its heartbeat lapsed)",
        code: 'source_not_found',
        source_instance: 'a',
      }),
    );
  });

  it('answers a client should retry carry Retry-After', () => {
    expect(httpError(errors.inboxFull('t'))).toMatchObject({ status: 429, headers: { 'retry-after': '1' } });
    expect(httpError(errors.broadcastBacklogFull(['a', 'b']))).toMatchObject({ status: 429, headers: { 'retry-after': '1' } });
    expect(httpError(errors.unavailable())).toMatchObject({ status: 503, headers: { 'retry-after': '1' } });
    expect(httpError(errors.notReplicated(1, 0, 100))).toMatchObject({ status: 503, headers: { 'retry-after': '1' } });
    expect(httpError(errors.tooManyStreams('a', 4))).toMatchObject({ status: 429, headers: { 'retry-after': '1' } });
    expect(httpError(errors.insufficientStorage())).toMatchObject({ status: 507, headers: { 'retry-after': '5' } });
    // Refusals that a retry cannot fix carry none.
    expect(httpError(errors.targetNotFound('t'))).toEqual(match.objectContaining({ status: 400, headers: {} }));
    expect(httpError(errors.idInUse('a'))).toEqual(match.objectContaining({ status: 409, headers: {} }));
  });

  it('rate_limited says when, in whole seconds, at least one', () => {
    expect(httpError(errors.rateLimited('a', 1)).headers).toEqual({ 'retry-after': '1' });
    expect(httpError(errors.rateLimited('a', 1000)).headers).toEqual({ 'retry-after': '1' });
    expect(httpError(errors.rateLimited('a', 1001)).headers).toEqual({ 'retry-after': '2' });
    expect(httpError(errors.rateLimited('a', 2500))).toMatchObject({ status: 429, body: { retry_after_ms: 2500 } });
  });

  it('domain errors carry no HTTP of their own', () => {
    const err = errors.inboxFull('t');
    expect(err).toBeInstanceOf(MeshDomainError);
    expect(Object.keys(err)).not.toContain('statusCode');
    expect(Object.keys(err)).not.toContain('headers');
  });
});
