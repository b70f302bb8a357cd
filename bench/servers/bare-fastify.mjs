// Baseline 2: bare Fastify (no logger, no schema) answering the same JSON POST. The registry's
// heartbeat route is compared with this one: same framework, same body, nothing else.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/health', async () => ({ status: 'ok' }));
app.post('/registry/heartbeat/:id', async (req) => ({
  acknowledged: true,
  leader_id: req.body.status ? req.params.id : null,
  should_sync: false,
  leader_term: 1,
}));
await app.listen({ port: Number(process.env.PORT), host: process.env.HOST ?? '127.0.0.1' });
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
