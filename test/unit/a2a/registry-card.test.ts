// The registry's own card (/.well-known/agent-card.json) is a valid A2A v1.0 card in every auth
// mode, and its links follow the base URL it is built for.
import { describe, expect, it } from 'vitest';
import { agentCard } from '../../../src/a2a/agent-card.js';
import { CATALOG_EXTENSION_URI, REGISTRY_PROTOCOL_BINDING, registryAgentCard } from '../../../src/a2a/registry-card.js';
import { match } from '../../helpers/match.js';

describe('registry agent card', () => {
  for (const authMode of ['none', 'token', 'instance'] as const) {
    it(`is valid against the Agent Card model (AUTH_MODE=${authMode})`, () => {
      const card = registryAgentCard({ baseUrl: 'https://mesh.example.com', version: '1.2.3', namespace: 'prod', authMode });
      // Through JSON, as it is served.
      const r = agentCard.safeParse(JSON.parse(JSON.stringify(card)));
      expect(r.error?.issues ?? []).toEqual([]);
      expect(card.version).toBe('1.2.3');
      if (authMode === 'none') {
        expect(card.securitySchemes).toBeUndefined();
        expect(card.securityRequirements).toBeUndefined();
      } else {
        expect(card.securitySchemes).toEqual({ bearer: { httpAuthSecurityScheme: match.objectContaining({ scheme: 'Bearer' }) } });
        expect(card.securityRequirements).toEqual([{ schemes: { bearer: { list: [] } } }]);
      }
    });
  }

  it('points at the API it describes', () => {
    const card = registryAgentCard({ baseUrl: 'http://10.0.0.5:8080', version: '0.1.0', namespace: 'default', authMode: 'none' });
    expect(card.supportedInterfaces).toEqual([
      { url: 'http://10.0.0.5:8080', protocolBinding: REGISTRY_PROTOCOL_BINDING, protocolVersion: '1.0' },
    ]);
    expect(card.documentationUrl).toBe('http://10.0.0.5:8080/docs');
    const ext = card.capabilities.extensions?.find((e) => e.uri === CATALOG_EXTENSION_URI);
    expect(ext?.params).toMatchObject({
      openapi: 'http://10.0.0.5:8080/openapi.json',
      searchBySkill: 'http://10.0.0.5:8080/registry/agents?skill={skill}',
      agentCard: 'http://10.0.0.5:8080/registry/agents/{instance_id}/agent-card',
    });
    expect(card.skills.map((s) => s.id)).toEqual(['agent-discovery', 'agent-registration', 'skill-routing', 'membership-events']);
  });
});
