// `mesh agent <id> --card`: an A2A Agent Card as a short readable summary (--json prints the card
// itself, exactly as the agent registered it).
import type { AgentCard } from '../types.js';
import { table, type Colors } from './format.js';

export function cardSummary(card: AgentCard, c: Colors): string {
  const rows: [string, string][] = [
    ['name', card.name],
    ['version', card.version],
    ['description', card.description],
  ];
  if (card.provider) rows.push(['provider', `${card.provider.organization} (${card.provider.url})`]);
  if (card.documentationUrl) rows.push(['documentation', card.documentationUrl]);
  card.supportedInterfaces.forEach((i, n) =>
    rows.push([
      n === 0 ? 'interfaces' : '',
      `${i.protocolBinding} ${i.protocolVersion} ${i.url}${i.tenant ? ` (tenant ${i.tenant})` : ''}`,
    ]),
  );
  const caps = Object.entries(card.capabilities)
    .filter(([, v]) => v === true)
    .map(([k]) => k);
  rows.push(['capabilities', caps.join(', ') || '-']);
  rows.push(['input modes', card.defaultInputModes.join(', ')]);
  rows.push(['output modes', card.defaultOutputModes.join(', ')]);
  const head = rows.map(([k, v]) => `${k.padEnd(15)} ${v}`).join('\n') + '\n\n';
  const skills = table(
    ['SKILL', 'NAME', 'TAGS'],
    card.skills.map((s) => [c.cyan(s.id), s.name, s.tags.join(', ')]),
    c,
  );
  return head + skills;
}
