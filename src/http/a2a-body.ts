// The `agent_card` of a register request as the client sent it. Validation replaces the body with
// zod's output, which rebuilds every object in schema order; the registry promises to serve a card
// exactly as registered (field order and unknown fields included), so the register route keeps a
// reference to the parsed-JSON card in its preValidation hook and stores that one.
import type { FastifyRequest } from 'fastify';

const raw = new WeakMap<FastifyRequest, unknown>();

/** Route `preValidation` hook of POST /registry/register. */
export async function keepRawAgentCard(request: FastifyRequest): Promise<void> {
  const body = request.body;
  if (body !== null && typeof body === 'object' && 'agent_card' in body) raw.set(request, body.agent_card);
}

/** The card as sent (JSON.parse output), for a request whose body had one. */
export function rawAgentCard(request: FastifyRequest): unknown {
  if (!raw.has(request)) throw new Error('rawAgentCard: the route has no keepRawAgentCard preValidation hook');
  return raw.get(request);
}
