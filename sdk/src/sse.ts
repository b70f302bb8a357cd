// Server-sent events over a fetch body, parsed by eventsource-parser (the WHATWG rules: field
// lines, multi-line data, comments, CR/LF/CRLF, chunks split anywhere).
import { createParser } from 'eventsource-parser';

export interface SseEvent {
  /** The `id:` of this event, or null when it had none. */
  id: string | null;
  /** The `event:` name; "message" when absent. */
  event: string;
  data: string;
}

export async function* parseSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const ready: SseEvent[] = [];
  const parser = createParser({
    onEvent: (m) => void ready.push({ id: m.id ?? null, event: m.event ?? 'message', data: m.data }),
  });
  const decoder = new TextDecoder('utf-8');
  for await (const chunk of body) {
    parser.feed(decoder.decode(chunk, { stream: true }));
    while (ready.length > 0) yield ready.shift()!;
  }
  // A stream that ends mid-event drops that event (as browsers do).
}
