// The server's OpenAPI document, as GET /openapi.json serves it, from a real app (buildApp needs
// a Redis to become ready: a private redis-server on a free port, stopped afterwards).
import { buildApp } from '../../src/app.js';
import { configFrom } from '../../src/config.js';
import { startRedisProcess } from '../../test/helpers/redis-process.js';
import type { OpenApiDocument } from './render.js';

export async function openApiDocument(): Promise<OpenApiDocument> {
  const redis = await startRedisProcess();
  try {
    const app = await buildApp(configFrom({ REDIS_URL: redis.url, LOG_LEVEL: 'silent', MESH_NAMESPACE: 'gen-types' }), {
      maintenance: false,
    });
    try {
      await app.ready();
      const res = await app.inject({ url: '/openapi.json' });
      if (res.statusCode !== 200) throw new Error(`GET /openapi.json answered ${res.statusCode}`);
      return res.json<OpenApiDocument>();
    } finally {
      await app.close();
    }
  } finally {
    await redis.stop();
  }
}
