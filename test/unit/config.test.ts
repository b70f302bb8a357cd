import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('config', () => {
  it('has the seed defaults', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(8080);
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(c.HEARTBEAT_INTERVAL_MS).toBe(5000);
    expect(c.STALE_TIMEOUT_MS).toBe(15000);
    expect(c.CLEANUP_INTERVAL_MS).toBe(7000);
    expect(c.MESH_NAMESPACE).toBe('default');
    expect(c.AUTH_MODE).toBe('none');
    expect(c.INBOX_MAX).toBe(10000);
    expect(c.MESSAGE_TTL_MS).toBe(86_400_000);
  });

  it('parses lists and numbers from strings; empty strings mean unset', () => {
    const c = loadConfig({
      PORT: '9000',
      REDIS_CLUSTER_NODES: '127.0.0.1:7000, 127.0.0.1:7001',
      AUTH_TOKENS: 'a,b',
      REDIS_SENTINELS: '',
    });
    expect(c.PORT).toBe(9000);
    expect(c.REDIS_CLUSTER_NODES).toEqual(['127.0.0.1:7000', '127.0.0.1:7001']);
    expect(c.REDIS_SENTINELS).toBeUndefined();
    expect(c.AUTH_TOKENS).toEqual(['a', 'b']);
  });

  it('reports one line per bad variable, naming it and its value', () => {
    try {
      loadConfig({ PORT: 'eighty', STALE_TIMEOUT_MS: '-5', LOG_LEVEL: 'loud', MESH_NAMESPACE: 'a{b}' });
      expect.unreachable('should have thrown');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems;
      expect(problems).toHaveLength(4);
      expect(problems.find((p) => p.startsWith('PORT:'))).toContain('"eighty"');
      expect(problems.some((p) => p.startsWith('STALE_TIMEOUT_MS:'))).toBe(true);
      expect(problems.some((p) => p.startsWith('LOG_LEVEL:'))).toBe(true);
      expect(problems.some((p) => p.startsWith('MESH_NAMESPACE:'))).toBe(true);
    }
  });

  it('rejects a stale timeout not above the heartbeat interval', () => {
    expect(() => loadConfig({ HEARTBEAT_INTERVAL_MS: '5000', STALE_TIMEOUT_MS: '5000' })).toThrow(/STALE_TIMEOUT_MS/);
  });

  it('REDIS_SYNC_REPLICAS: off by default; its WAIT timeout must stay below the command timeout', () => {
    const c = loadConfig({});
    expect(c.REDIS_SYNC_REPLICAS).toBe(0);
    expect(c.REDIS_SYNC_TIMEOUT_MS).toBe(1000);
    expect(c.IDEMPOTENCY_TTL_MS).toBe(600_000);
    expect(loadConfig({ REDIS_SYNC_REPLICAS: '1', REDIS_SYNC_TIMEOUT_MS: '1999' }).REDIS_SYNC_REPLICAS).toBe(1);
    expect(() => loadConfig({ REDIS_SYNC_REPLICAS: '1', REDIS_SYNC_TIMEOUT_MS: '2000' })).toThrow(
      /REDIS_SYNC_TIMEOUT_MS: must be below REDIS_COMMAND_TIMEOUT_MS \(2000\)/,
    );
    expect(() => loadConfig({ REDIS_SYNC_REPLICAS: '1', REDIS_COMMAND_TIMEOUT_MS: '500' })).toThrow(/REDIS_SYNC_TIMEOUT_MS/);
    // Without the option the timeout is unused, so it is not checked.
    expect(loadConfig({ REDIS_COMMAND_TIMEOUT_MS: '500' }).REDIS_SYNC_REPLICAS).toBe(0);
    expect(() => loadConfig({ REDIS_SYNC_REPLICAS: '-1' })).toThrow(/REDIS_SYNC_REPLICAS/);
    expect(() => loadConfig({ IDEMPOTENCY_TTL_MS: '10' })).toThrow(/IDEMPOTENCY_TTL_MS/);
  });

  it('rejects both Sentinel and Cluster at once, and token mode without tokens', () => {
    expect(() => loadConfig({ REDIS_SENTINELS: 'a:1', REDIS_CLUSTER_NODES: 'b:2' })).toThrow(/not both/);
    expect(() => loadConfig({ AUTH_MODE: 'token' })).toThrow(/AUTH_TOKENS/);
  });

  it('never echoes secrets in errors', () => {
    expect(() => loadConfig({ REDIS_URL: 'not a url', REDIS_PASSWORD: 'x'.repeat(3) })).toThrow(/REDIS_URL/);
    try {
      loadConfig({ AUTH_MODE: 'bogus', AUTH_TOKENS: 'supersecret' });
    } catch (err) {
      expect((err as Error).message).not.toContain('supersecret');
    }
  });
});
