// The A2A v1.0 Agent Card as a zod model: it validates `agent_card` at registration, describes the
// card in the OpenAPI document (and so, through `npm run gen:types`, in the SDK's types), and
// validates the registry's own card at /.well-known/agent-card.json.
//
// Source: the normative proto of A2A v1.0 (a2aproject/A2A, specification/a2a.proto at v1.0.1,
// messages AgentCard ... DeviceCodeOAuthFlow), in its JSON form: ProtoJSON with camelCase field
// names (spec section 5.5: JSON MUST use camelCase). What we decided where the spec leaves room:
//   - Required: the fields the proto marks REQUIRED. Spec 5.7 says they MUST be present and set,
//     and that required arrays MUST have at least one element. "Set" for a proto3 string means
//     non-empty, so required strings must be non-empty too.
//   - Unknown fields are kept (spec 5.7: implementations SHOULD ignore unrecognized fields): every
//     object is loose, so extension fields and leftovers such as 0.3's `security` (which the
//     spec's own sample card in section 8.5 still carries) pass and are stored as registered.
//   - `oneof` groups (SecurityScheme, OAuthFlows): at most one of the known members may be set; a
//     member this version does not know is an unknown field like any other.
//   - APIKeySecurityScheme.location is one of "query" | "header" | "cookie", as its comment says.
//   - URLs are not checked for form: an interface url may be `host:port` for gRPC (1.0.1).
// Registry limits on top (docs: README "A2A Agent Cards"): AGENT_CARD_MAX_BYTES serialized (413),
// AGENT_CARD_MAX_DEPTH levels of nesting, skill ids and tags of 1-128 characters without control
// characters (they are index keys in Redis), and at most SKILL_INDEX_MAX distinct ids and tags per
// card (each costs two commands when the card is (re-)registered or purged).
import { z } from 'zod';

/** The A2A protocol version this registry's model follows (Major.Minor, spec section 3.6). */
export const A2A_PROTOCOL_VERSION = '1.0';
/** Serialized size of a card at most (UTF-8 bytes of its JSON); more is 413 payload_too_large. */
export const AGENT_CARD_MAX_BYTES = 32 * 1024;
/** Nesting of objects/arrays in a card at most (the model itself needs 7). */
export const AGENT_CARD_MAX_DEPTH = 16;
/** Characters of a skill id or tag at most: each is a Redis key suffix (`skillz:<value>`). */
export const SKILL_VALUE_MAX_CHARS = 128;
/** Distinct skill ids and tags of one card at most: what one registration indexes. */
export const SKILL_INDEX_MAX = 128;

// Control characters would make index keys and CLI output unreadable; anything else is a valid tag
// ("currency conversion" in A2A's own samples has a space).
const SKILL_VALUE = /^[^\p{Cc}]+$/u;
const SKILL_VALUE_RULE = `1-${SKILL_VALUE_MAX_CHARS} characters, no control characters`;

/** A skill id or tag as the index and `?skill=` take it. */
export const skillValue = z
  .string()
  .max(SKILL_VALUE_MAX_CHARS, `must be ${SKILL_VALUE_RULE}`)
  // The pattern also refuses the empty string.
  .regex(SKILL_VALUE, `must be ${SKILL_VALUE_RULE}`);

const required = (what: string) => z.string().min(1, `${what} is required and must not be empty`);
const optionalText = z.string().optional();
const mediaTypes = z.array(z.string()).min(1, 'must list at least one media type');

/** Iterative: a hostile card nested thousands of levels deep must not blow the stack. */
function depthWithin(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d > max) return false;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return true;
}

/** How many of `keys` are set (not undefined) on `value`: the members of a proto `oneof`. */
const setCount = (value: Record<string, unknown>, keys: readonly string[]) => keys.filter((k) => value[k] !== undefined).length;

export const agentInterface = z
  .looseObject({
    url: required('url').meta({ description: 'Where the interface is (absolute HTTPS URL in production; host:port for gRPC)' }),
    protocolBinding: required('protocolBinding').meta({ description: 'JSONRPC, GRPC, HTTP+JSON, or a URI for a custom binding' }),
    tenant: optionalText.meta({ description: 'Opaque routing value clients put in every request to this interface' }),
    protocolVersion: required('protocolVersion').meta({ description: 'A2A version of this interface, Major.Minor (e.g. "1.0")' }),
  })
  .meta({ description: 'A2A AgentInterface: one URL + protocol binding + version' });

export const agentProvider = z
  .looseObject({
    url: required('url'),
    organization: required('organization'),
  })
  .meta({ description: 'A2A AgentProvider: who operates the agent' });

export const agentExtension = z
  .looseObject({
    uri: optionalText.meta({ description: 'Identifies the extension' }),
    description: optionalText,
    required: z.boolean().optional().meta({ description: 'Clients must understand the extension' }),
    params: z.record(z.string(), z.unknown()).optional().meta({ description: 'Extension-specific configuration' }),
  })
  .meta({ description: 'A2A AgentExtension: a protocol extension the agent supports' });

export const agentCapabilities = z
  .looseObject({
    streaming: z.boolean().optional(),
    pushNotifications: z.boolean().optional(),
    extensions: z.array(agentExtension).optional(),
    extendedAgentCard: z.boolean().optional().meta({ description: 'An extended card is available after authentication' }),
  })
  .meta({ description: 'A2A AgentCapabilities: optional features the agent supports' });

export const securityRequirement = z
  .looseObject({
    schemes: z
      .record(z.string(), z.looseObject({ list: z.array(z.string()).optional() }))
      .optional()
      .meta({ description: 'Security scheme name -> required scopes ({"list": [...]})' }),
  })
  .meta({ description: 'A2A SecurityRequirement: schemes (by name in securitySchemes) and their scopes' });

const scopes = z.record(z.string(), z.string()).meta({ description: 'Scope -> description' });

const authorizationCodeFlow = z.looseObject({
  authorizationUrl: required('authorizationUrl'),
  tokenUrl: required('tokenUrl'),
  refreshUrl: optionalText,
  scopes,
  pkceRequired: z.boolean().optional(),
});
const clientCredentialsFlow = z.looseObject({ tokenUrl: required('tokenUrl'), refreshUrl: optionalText, scopes });
const implicitFlow = z.looseObject({ authorizationUrl: optionalText, refreshUrl: optionalText, scopes: scopes.optional() });
const passwordFlow = z.looseObject({ tokenUrl: optionalText, refreshUrl: optionalText, scopes: scopes.optional() });
const deviceCodeFlow = z.looseObject({
  deviceAuthorizationUrl: required('deviceAuthorizationUrl'),
  tokenUrl: required('tokenUrl'),
  refreshUrl: optionalText,
  scopes,
});

const FLOWS = ['authorizationCode', 'clientCredentials', 'implicit', 'password', 'deviceCode'] as const;

export const oauthFlows = z
  .looseObject({
    authorizationCode: authorizationCodeFlow.optional(),
    clientCredentials: clientCredentialsFlow.optional(),
    implicit: implicitFlow.optional().meta({ description: 'Deprecated in A2A 1.0' }),
    password: passwordFlow.optional().meta({ description: 'Deprecated in A2A 1.0' }),
    deviceCode: deviceCodeFlow.optional(),
  })
  .refine((f) => setCount(f, FLOWS) <= 1, `is a oneof: set at most one of ${FLOWS.join(', ')}`)
  .meta({ description: 'A2A OAuthFlows (oneof): one OAuth 2.0 flow' });

const SCHEMES = [
  'apiKeySecurityScheme',
  'httpAuthSecurityScheme',
  'oauth2SecurityScheme',
  'openIdConnectSecurityScheme',
  'mtlsSecurityScheme',
] as const;

export const securityScheme = z
  .looseObject({
    apiKeySecurityScheme: z
      .looseObject({
        description: optionalText,
        location: z.enum(['query', 'header', 'cookie']),
        name: required('name'),
      })
      .optional(),
    httpAuthSecurityScheme: z
      .looseObject({
        description: optionalText,
        scheme: required('scheme').meta({ description: 'RFC 7235 scheme, e.g. Bearer' }),
        bearerFormat: optionalText,
      })
      .optional(),
    oauth2SecurityScheme: z
      .looseObject({
        description: optionalText,
        flows: oauthFlows,
        oauth2MetadataUrl: optionalText,
      })
      .optional(),
    openIdConnectSecurityScheme: z
      .looseObject({
        description: optionalText,
        openIdConnectUrl: required('openIdConnectUrl'),
      })
      .optional(),
    mtlsSecurityScheme: z.looseObject({ description: optionalText }).optional(),
  })
  .refine((s) => setCount(s, SCHEMES) <= 1, `is a oneof: set at most one of ${SCHEMES.join(', ')}`)
  .meta({ description: 'A2A SecurityScheme (oneof): API key, HTTP auth, OAuth 2.0, OpenID Connect or mTLS' });

export const agentSkill = z
  .looseObject({
    id: skillValue.meta({ description: 'Unique id of the skill; indexed (GET /registry/agents?skill=, target_capability)' }),
    name: required('name'),
    description: required('description'),
    tags: z.array(skillValue).min(1, 'must list at least one tag').meta({ description: 'Keywords; each is indexed like the id' }),
    examples: z.array(z.string()).optional(),
    inputModes: z.array(z.string()).optional().meta({ description: 'Media types, overriding the card defaults' }),
    outputModes: z.array(z.string()).optional(),
    securityRequirements: z.array(securityRequirement).optional(),
  })
  .meta({ description: 'A2A AgentSkill: a unit of capability the agent performs' });

export const agentCardSignature = z
  .looseObject({
    protected: required('protected').meta({ description: 'base64url JWS protected header' }),
    signature: required('signature').meta({ description: 'base64url signature' }),
    header: z.record(z.string(), z.unknown()).optional().meta({ description: 'JWS unprotected header' }),
  })
  .meta({ description: 'A2A AgentCardSignature: a JWS (RFC 7515) over the canonical card' });

/** The distinct skill ids and tags of a card, in card order: what the registry indexes. */
export function skillIndexValues(card: { skills: { id: string; tags: string[] }[] }): string[] {
  const seen = new Set<string>();
  for (const s of card.skills) {
    seen.add(s.id);
    for (const t of s.tags) seen.add(t);
  }
  return [...seen];
}

export const agentCard = z
  .looseObject({
    name: required('name').meta({ description: 'Human-readable name' }),
    description: required('description'),
    supportedInterfaces: z
      .array(agentInterface)
      .min(1, 'must list at least one interface')
      .meta({ description: 'Ordered; the first entry is preferred' }),
    provider: agentProvider.optional(),
    version: required('version').meta({ description: 'Version of the agent' }),
    documentationUrl: optionalText,
    capabilities: agentCapabilities,
    securitySchemes: z.record(z.string(), securityScheme).optional(),
    securityRequirements: z.array(securityRequirement).optional(),
    defaultInputModes: mediaTypes,
    defaultOutputModes: mediaTypes,
    skills: z
      .array(agentSkill)
      .min(1, 'must list at least one skill')
      .refine(
        (skills) => skillIndexValues({ skills }).length <= SKILL_INDEX_MAX,
        `may hold at most ${SKILL_INDEX_MAX} distinct skill ids and tags (each is indexed)`,
      ),
    signatures: z.array(agentCardSignature).optional(),
    iconUrl: optionalText,
  })
  .refine((card) => depthWithin(card, AGENT_CARD_MAX_DEPTH), `must not nest deeper than ${AGENT_CARD_MAX_DEPTH} levels`)
  .meta({
    description:
      'A2A v1.0 Agent Card (a2a.proto AgentCard, camelCase JSON). Unknown fields are allowed and kept. ' +
      `At most ${AGENT_CARD_MAX_BYTES} bytes, ${AGENT_CARD_MAX_DEPTH} levels, ${SKILL_INDEX_MAX} distinct skill ids and tags.`,
  });

export type AgentCard = z.infer<typeof agentCard>;
export type AgentSkill = z.infer<typeof agentSkill>;

/** Schemas the OpenAPI document names (components), so the SDK gets one type per A2A message. */
export const AGENT_CARD_COMPONENTS: readonly [z.ZodType, string][] = [
  [agentCard, 'AgentCard'],
  [agentInterface, 'AgentInterface'],
  [agentProvider, 'AgentProvider'],
  [agentCapabilities, 'AgentCapabilities'],
  [agentExtension, 'AgentExtension'],
  [agentSkill, 'AgentSkill'],
  [securityScheme, 'SecurityScheme'],
  [oauthFlows, 'OAuthFlows'],
  [securityRequirement, 'SecurityRequirement'],
  [agentCardSignature, 'AgentCardSignature'],
];
