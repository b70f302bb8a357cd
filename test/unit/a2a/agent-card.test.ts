// The A2A v1.0 Agent Card model (src/a2a/agent-card.ts): the specification's own examples and our
// fixtures (test/fixtures/a2a/README.md), every required field missing, wrong types, the oneof
// groups, and the registry's limits. Every invalid case must name the offending field.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AGENT_CARD_MAX_DEPTH, agentCard, SKILL_INDEX_MAX, SKILL_VALUE_MAX_CHARS, skillIndexValues } from '../../../src/a2a/agent-card.js';

const FIXTURES = new URL('../../fixtures/a2a/', import.meta.url);
type Json = Record<string, unknown>;
const load = (rel: string): Json => JSON.parse(readFileSync(new URL(rel, FIXTURES), 'utf8')) as Json;
const clone = <T>(v: T): T => structuredClone(v);

/** The value at `path` of `obj`'s parent, and the last key: for deleting or replacing it. */
function parentOf(obj: Json, path: (string | number)[]): [Record<string | number, unknown>, string | number] {
  let cur: unknown = obj;
  for (const k of path.slice(0, -1)) cur = (cur as Record<string | number, unknown>)[k];
  if (cur === undefined || cur === null) throw new Error(`no ${path.join('.')} in fixture`);
  return [cur as Record<string | number, unknown>, path.at(-1)!];
}

function without(card: Json, path: (string | number)[]): Json {
  const c = clone(card);
  const [parent, key] = parentOf(c, path);
  if (!(key in parent)) throw new Error(`fixture has no ${path.join('.')}`);
  delete parent[key];
  return c;
}

function withValue(card: Json, path: (string | number)[], value: unknown): Json {
  const c = clone(card);
  const [parent, key] = parentOf(c, path);
  parent[key] = value;
  return c;
}

/** The paths (dotted) zod reports for an invalid card; fails the test when the card is valid. */
function issuePaths(card: unknown): string[] {
  const r = agentCard.safeParse(card);
  expect(r.success, 'card should be invalid').toBe(false);
  return r.error!.issues.map((i) => i.path.join('.'));
}

describe('valid cards', () => {
  const files = readdirSync(new URL('valid/', FIXTURES)).filter((f) => f.endsWith('.json'));

  it('has the fixtures the README lists', () => {
    expect(files.sort()).toEqual([
      'everything.json',
      'minimal.json',
      'spec-4.6.1-extension-declaration-with-version.json',
      'spec-8.5-sample-agent-card.json',
      'tags-with-spaces.json',
    ]);
  });

  for (const f of files) {
    it(`accepts valid/${f}`, () => {
      const r = agentCard.safeParse(load(`valid/${f}`));
      expect(r.error?.issues ?? []).toEqual([]);
    });
  }

  it("keeps the spec sample's unknown fields (0.3's `security`) and indexes its skills", () => {
    const sample = load('valid/spec-8.5-sample-agent-card.json');
    const parsed = agentCard.parse(sample);
    expect(parsed.security).toEqual([{ google: ['openid', 'profile', 'email'] }]);
    expect(skillIndexValues(parsed)).toEqual([
      'route-optimizer-traffic',
      'maps',
      'routing',
      'navigation',
      'directions',
      'traffic',
      'custom-map-generator',
      'customization',
      'visualization',
      'cartography',
    ]);
  });

  it('keeps unknown fields at every level', () => {
    const card = load('valid/everything.json');
    const extra = withValue(
      withValue(withValue(card, ['skills', 0, 'x-rank'], 3), ['supportedInterfaces', 0, 'x-region'], 'eu'),
      ['capabilities', 'x-beta'],
      true,
    );
    const parsed = agentCard.parse(extra) as Json & { skills: Json[]; supportedInterfaces: Json[]; capabilities: Json };
    expect(parsed['x-example-vendor']).toEqual({ tier: 'gold', regions: ['eu', 'us'] });
    expect(parsed.skills[0]!['x-rank']).toBe(3);
    expect(parsed.supportedInterfaces[0]!['x-region']).toBe('eu');
    expect(parsed.capabilities['x-beta']).toBe(true);
  });
});

describe('invalid cards name the field', () => {
  it('the spec example of section 4.6.1 as printed lacks the required version', () => {
    expect(issuePaths(load('invalid/spec-4.6.1-extension-declaration.json'))).toEqual(['version']);
  });

  it('a 0.3-shaped card (url, no supportedInterfaces) is not a 1.0 card', () => {
    expect(issuePaths(load('invalid/v0.3-magic-8-ball.json'))).toEqual(['supportedInterfaces']);
  });

  // Every field a2a.proto marks REQUIRED, on a card that has all the optional messages too.
  const REQUIRED: (string | number)[][] = [
    ['name'],
    ['description'],
    ['supportedInterfaces'],
    ['version'],
    ['capabilities'],
    ['defaultInputModes'],
    ['defaultOutputModes'],
    ['skills'],
    ['supportedInterfaces', 0, 'url'],
    ['supportedInterfaces', 0, 'protocolBinding'],
    ['supportedInterfaces', 0, 'protocolVersion'],
    ['provider', 'url'],
    ['provider', 'organization'],
    ['skills', 0, 'id'],
    ['skills', 0, 'name'],
    ['skills', 0, 'description'],
    ['skills', 0, 'tags'],
    ['signatures', 0, 'protected'],
    ['signatures', 0, 'signature'],
    ['securitySchemes', 'apikey', 'apiKeySecurityScheme', 'location'],
    ['securitySchemes', 'apikey', 'apiKeySecurityScheme', 'name'],
    ['securitySchemes', 'bearer', 'httpAuthSecurityScheme', 'scheme'],
    ['securitySchemes', 'oauth', 'oauth2SecurityScheme', 'flows'],
    ['securitySchemes', 'oauth', 'oauth2SecurityScheme', 'flows', 'authorizationCode', 'authorizationUrl'],
    ['securitySchemes', 'oauth', 'oauth2SecurityScheme', 'flows', 'authorizationCode', 'tokenUrl'],
    ['securitySchemes', 'oauth', 'oauth2SecurityScheme', 'flows', 'authorizationCode', 'scopes'],
    ['securitySchemes', 'machines', 'oauth2SecurityScheme', 'flows', 'clientCredentials', 'tokenUrl'],
    ['securitySchemes', 'machines', 'oauth2SecurityScheme', 'flows', 'clientCredentials', 'scopes'],
    ['securitySchemes', 'devices', 'oauth2SecurityScheme', 'flows', 'deviceCode', 'deviceAuthorizationUrl'],
    ['securitySchemes', 'devices', 'oauth2SecurityScheme', 'flows', 'deviceCode', 'tokenUrl'],
    ['securitySchemes', 'devices', 'oauth2SecurityScheme', 'flows', 'deviceCode', 'scopes'],
    ['securitySchemes', 'oidc', 'openIdConnectSecurityScheme', 'openIdConnectUrl'],
  ];
  for (const path of REQUIRED) {
    it(`missing ${path.join('.')}`, () => {
      expect(issuePaths(without(load('valid/everything.json'), path))).toEqual([path.join('.')]);
    });
  }

  const WRONG_TYPES: [(string | number)[], unknown][] = [
    [['name'], 42],
    [['description'], null],
    [['version'], 1.2],
    [['supportedInterfaces'], 'https://a.example.com'],
    [['supportedInterfaces', 0], 'https://a.example.com'],
    [['supportedInterfaces', 0, 'tenant'], 7],
    [['provider'], 'Example Corp'],
    [['documentationUrl'], { href: 'x' }],
    [['capabilities'], true],
    [['capabilities', 'streaming'], 'yes'],
    [['capabilities', 'extendedAgentCard'], 1],
    [['capabilities', 'extensions'], {}],
    [['capabilities', 'extensions', 0, 'required'], 'no'],
    [['capabilities', 'extensions', 0, 'params'], ['hints']],
    [['securitySchemes'], []],
    [['securitySchemes', 'bearer'], 'Bearer'],
    [['securitySchemes', 'apikey', 'apiKeySecurityScheme', 'location'], 'body'],
    [['securitySchemes', 'oauth', 'oauth2SecurityScheme', 'flows', 'authorizationCode', 'scopes'], ['read']],
    [['securitySchemes', 'oauth', 'oauth2SecurityScheme', 'flows', 'authorizationCode', 'pkceRequired'], 'true'],
    [['securityRequirements'], { oauth: ['read'] }],
    [['securityRequirements', 0, 'schemes', 'oauth', 'list'], 'read'],
    [['defaultInputModes'], 'text/plain'],
    [['defaultOutputModes', 0], 5],
    [['skills'], { id: 'x' }],
    [['skills', 0, 'tags'], 'text'],
    [['skills', 0, 'tags', 1], 5],
    [['skills', 0, 'examples'], 'Summarize this'],
    [['skills', 0, 'inputModes', 0], false],
    [['signatures', 0, 'header'], 'kid'],
    [['iconUrl'], 1],
  ];
  for (const [path, value] of WRONG_TYPES) {
    it(`${path.join('.')} = ${JSON.stringify(value)}`, () => {
      expect(issuePaths(withValue(load('valid/everything.json'), path, value))).toEqual([path.join('.')]);
    });
  }

  it('required arrays need an element and required strings must be set', () => {
    for (const path of [['supportedInterfaces'], ['defaultInputModes'], ['defaultOutputModes'], ['skills'], ['skills', 0, 'tags']]) {
      expect(issuePaths(withValue(load('valid/minimal.json'), path, [])), path.join('.')).toEqual([path.join('.')]);
    }
    for (const path of [['name'], ['version'], ['supportedInterfaces', 0, 'url'], ['skills', 0, 'name']]) {
      expect(issuePaths(withValue(load('valid/minimal.json'), path, '')), path.join('.')).toEqual([path.join('.')]);
    }
  });

  it('a oneof holds one member: a security scheme, the OAuth flows', () => {
    const card = load('valid/everything.json');
    const twoSchemes = withValue(card, ['securitySchemes', 'bearer', 'mtlsSecurityScheme'], {});
    expect(issuePaths(twoSchemes)).toEqual(['securitySchemes.bearer']);
    const twoFlows = withValue(card, ['securitySchemes', 'oauth', 'oauth2SecurityScheme', 'flows', 'clientCredentials'], {
      tokenUrl: 'https://t',
      scopes: {},
    });
    expect(issuePaths(twoFlows)).toEqual(['securitySchemes.oauth.oauth2SecurityScheme.flows']);
    // A member this version does not know is an unknown field, not a second member.
    expect(agentCard.safeParse(withValue(card, ['securitySchemes', 'bearer', 'futureSecurityScheme'], {})).success).toBe(true);
  });
});

describe('registry limits', () => {
  it('skill ids and tags: 1-128 characters, no control characters; spaces and unicode are fine', () => {
    const card = load('valid/minimal.json');
    expect(
      agentCard.safeParse(withValue(card, ['skills', 0, 'tags'], ['currency conversion', 'übersetzung', 'x'.repeat(SKILL_VALUE_MAX_CHARS)]))
        .success,
    ).toBe(true);
    expect(issuePaths(withValue(card, ['skills', 0, 'id'], 'x'.repeat(SKILL_VALUE_MAX_CHARS + 1)))).toEqual(['skills.0.id']);
    expect(issuePaths(withValue(card, ['skills', 0, 'tags'], ['ok', 'new\nline']))).toEqual(['skills.0.tags.1']);
    expect(issuePaths(withValue(card, ['skills', 0, 'tags'], ['ok', '']))).toEqual(['skills.0.tags.1']);
  });

  it(`at most ${SKILL_INDEX_MAX} distinct skill ids and tags; duplicates count once`, () => {
    const skill = (i: number, tags: string[]) => ({ id: `s${i}`, name: `S${i}`, description: 'd', tags });
    const card = load('valid/minimal.json');
    // 64 skills x (id + 1 own tag) = 128 values, plus a tag all of them share (and the ids repeated as tags).
    const atLimit = Array.from({ length: 64 }, (_, i) => skill(i, [`t${i}`, `s${i}`]));
    expect(agentCard.safeParse(withValue(card, ['skills'], atLimit)).success).toBe(true);
    const over = [...atLimit, skill(64, ['t0'])];
    expect(issuePaths(withValue(card, ['skills'], over))).toEqual(['skills']);
    expect(skillIndexValues({ skills: [skill(1, ['a', 'b', 'a']), skill(2, ['b', 's1'])] })).toEqual(['s1', 'a', 'b', 's2']);
  });

  it(`nesting deeper than ${AGENT_CARD_MAX_DEPTH} levels is refused, wherever it is`, () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < AGENT_CARD_MAX_DEPTH; i++) deep = { d: deep };
    const card = load('valid/everything.json');
    expect(issuePaths(withValue(card, ['x-deep'], deep))).toEqual(['']);
    expect(issuePaths(withValue(card, ['capabilities', 'extensions', 0, 'params', 'deep'], deep))).toEqual(['']);
    let ok: unknown = 'bottom';
    for (let i = 0; i < AGENT_CARD_MAX_DEPTH - 2; i++) ok = { d: ok };
    expect(agentCard.safeParse(withValue(card, ['x-deep'], ok)).success).toBe(true);
  });
});
