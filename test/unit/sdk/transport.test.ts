import { describe, expect, it } from 'vitest';
import { MeshApiError, MeshNetworkError } from '../../../sdk/src/errors.js';
import { parseRetryAfter, retryable, Transport } from '../../../sdk/src/transport.js';

const api = (status: number, code = 'x') =>
  new MeshApiError({ status, code, message: '', body: null, method: 'GET', path: '/', retryAfterMs: null, attempts: 1 });
const net = (kind: 'connect' | 'timeout' | 'network') =>
  new MeshNetworkError({ kind, errno: null, method: 'GET', path: '/', url: 'http://x/', attempts: 1, cause: null });

describe('transport', () => {
  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter(' ')).toBeNull();
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter('0.5')).toBe(500);
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:03 GMT', now)).toBe(3000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon')).toBeNull();
  });

  it('retries by policy: idempotent everything transient, connect-only what never reached the server', () => {
    for (const err of [net('connect'), net('timeout'), net('network'), api(503), api(500)]) expect(retryable('idempotent', err)).toBe(true);
    expect(retryable('idempotent', api(429))).toBe(false);
    expect(retryable('idempotent', api(404))).toBe(false);
    expect(retryable('idempotent', api(504, 'timeout'), ['timeout'])).toBe(false);
    expect(retryable('connect-only', net('connect'))).toBe(true);
    for (const err of [net('timeout'), net('network'), api(503)]) expect(retryable('connect-only', err)).toBe(false);
    expect(retryable('never', net('connect'))).toBe(false);
  });

  it('takes http(s) URLs only, without a trailing slash', () => {
    expect(new Transport({ url: 'http://127.0.0.1:8080//' }).url).toBe('http://127.0.0.1:8080');
    expect(() => new Transport({ url: 'ftp://x' })).toThrow(TypeError);
    expect(() => new Transport({ url: 'not a url' })).toThrow(TypeError);
  });

  it('names a non-JSON error body by its status', () => {
    const t = new Transport({ url: 'http://x' });
    expect(t.apiError('GET', '/a', 502, '<html>bad gateway</html>', null, 1)).toMatchObject({ status: 502, code: 'http_502' });
    expect(t.apiError('GET', '/a', 409, { error: 'taken', code: 'instance_id_in_use' }, null, 2)).toMatchObject({
      code: 'instance_id_in_use',
      message: 'GET /a -> 409 instance_id_in_use: taken',
      attempts: 2,
    });
  });
});
