import { describe, expect, it } from 'vitest';
import { parseSse, type SseEvent } from '../../../sdk/src/sse.js';

async function parse(chunks: string[]): Promise<SseEvent[]> {
  const enc = new TextEncoder();
  async function* body() {
    for (const c of chunks) yield enc.encode(c);
  }
  const out: SseEvent[] = [];
  for await (const e of parseSse(body())) out.push(e);
  return out;
}

describe('parseSse', () => {
  it('reads id, event and data, with comments and retry lines skipped', async () => {
    expect(await parse(['retry: 1000\n\n: keep-alive\n\nid: 1-0\nevent: joined\ndata: {"a":1}\n\n'])).toEqual([
      { id: '1-0', event: 'joined', data: '{"a":1}' },
    ]);
  });

  it('joins multi-line data, defaults the event name, accepts CRLF', async () => {
    expect(await parse(['data: a\r\ndata: b\r\n\r\n'])).toEqual([{ id: null, event: 'message', data: 'a\nb' }]);
  });

  it('events split across chunks anywhere, even inside a UTF-8 character', async () => {
    const text = 'id: 9\nevent: message\ndata: "héllo ✓"\n\n';
    const bytes = new TextEncoder().encode(text);
    const out: SseEvent[] = [];
    async function* body() {
      for (const b of bytes) yield new Uint8Array([b]);
    }
    for await (const e of parseSse(body())) out.push(e);
    expect(out).toEqual([{ id: '9', event: 'message', data: '"héllo ✓"' }]);
  });

  it('drops an event the stream ended in the middle of', async () => {
    expect(await parse(['data: complete\n\n', 'data: cut off'])).toEqual([{ id: null, event: 'message', data: 'complete' }]);
  });
});
