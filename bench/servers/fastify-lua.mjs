// Baseline 3: bare Fastify plus one minimal Lua script per request (HSET + SET PX + ZADD), the
// least any Redis-backed heartbeat can do, with ioredis auto-pipelining (the registry's own
// setting, so the comparison is like for like). Shows how much of the gap to bare Fastify is the
// Redis round trip itself, and gives the cost of a minimal script in Redis (usec per call).
import Fastify from 'fastify';
import { Redis } from 'ioredis';

const redis = new Redis(process.env.REDIS_URL, { enableAutoPipelining: true });
redis.defineCommand('minimalHeartbeat', {
  numberOfKeys: 3,
  lua: `
    redis.call('HSET', KEYS[1], 'hb', ARGV[2], 'status', ARGV[3], 'metrics', ARGV[4])
    redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
    redis.call('ZADD', KEYS[3], ARGV[2] + ARGV[1], ARGV[5])
    return 1`,
});
const P = 'minimal:{bench}:';
const app = Fastify({ logger: false });
app.get('/health', async () => ({ status: 'ok' }));
app.post('/registry/heartbeat/:id', async (req) => {
  const id = req.params.id;
  await redis.minimalHeartbeat(
    `${P}inst:${id}`,
    `${P}alive:${id}`,
    `${P}deadlines`,
    15000,
    Date.now(),
    String(req.body.status),
    JSON.stringify(req.body.metrics ?? null),
    id,
  );
  return { acknowledged: true, leader_id: id, should_sync: false, leader_term: 1 };
});
await app.listen({ port: Number(process.env.PORT), host: process.env.HOST ?? '127.0.0.1' });
process.on('SIGTERM', () =>
  app.close().then(() => {
    redis.disconnect();
    process.exit(0);
  }),
);
