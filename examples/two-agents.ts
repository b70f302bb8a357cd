// Two agents on one mesh: a worker that can `summarize` and answers Queries with a Response, and a
// requester that asks "whoever can summarize" (capability routing) and then the worker directly.
//
//   MESH_URL=http://127.0.0.1:8080 npm run example      (from the repository root)
//
// It is its own project (examples/package.json) that depends on agent-mesh-sdk exactly as an
// agent written outside this repository would, compiled with strict settings (tsconfig.json).
// Prints the answers and exits 0 (1 on any failure). Both agents deregister on the way out.
import { MeshAgent, type AgentMessage } from 'agent-mesh-sdk';

const url = process.env.MESH_URL ?? 'http://127.0.0.1:8080';
const token = process.env.MESH_TOKEN || null;

function summarize(text: string): string {
  const words = text.split(/\s+/).filter(Boolean);
  const first = text.split(/(?<=[.!?])\s/)[0] ?? text;
  return `${first} (${words.length} words)`;
}

const worker = await MeshAgent.join({
  url,
  token,
  hostname: 'worker.example',
  port: 7001,
  capabilities: ['summarize'],
  heartbeatIntervalMs: 1000,
});
const requester = await MeshAgent.join({ url, token, hostname: 'requester.example', port: 7002, heartbeatIntervalMs: 1000 });

try {
  // Ack happens after this resolves; if it threw, the Query would be delivered again.
  worker.on('Query', async (query: AgentMessage, ctx) => {
    const text = (query.payload as { text?: unknown } | null)?.text;
    await ctx.respond({ summary: typeof text === 'string' ? summarize(text) : null, by: worker.id });
  });

  const text = 'Agents register with the mesh. They heartbeat, elect a leader and exchange messages through Redis.';
  const viaCapability = await requester.request({ capability: 'summarize' }, { text }, { timeoutMs: 10_000 });
  console.log(`summary (routed by capability): ${JSON.stringify(viaCapability.payload)}`);

  const direct = await requester.request(
    worker.id,
    { text: 'Direct requests name the target instance. Either way works.' },
    { timeoutMs: 10_000 },
  );
  console.log(`summary (direct to ${worker.id}): ${JSON.stringify(direct.payload)}`);
  console.log(`leader: ${requester.leaderId} (term ${requester.leaderTerm})`);
} finally {
  await Promise.allSettled([requester.close(), worker.close()]);
}
