// A small server-sent-events parser over a fetch body (WHATWG rules: `field: value` lines, blank
// line dispatches, multi-line data joined with \n, comments ignored, CR/LF/CRLF line ends).

export interface SseEvent {
  /** The `id:` of this event, or null when it had none. */
  id: string | null;
  /** The `event:` name; "message" when absent. */
  event: string;
  data: string;
}

export async function* parseSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let data: string[] = [];
  let event = '';
  let id: string | null = null;
  let sawCr = false;

  const line = (text: string): SseEvent | null => {
    if (text === '') {
      if (data.length === 0) {
        event = '';
        return null;
      }
      const out: SseEvent = { id, event: event || 'message', data: data.join('\n') };
      data = [];
      event = '';
      id = null;
      return out;
    }
    if (text.startsWith(':')) return null;
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        data.push(value);
        break;
      case 'event':
        event = value;
        break;
      case 'id':
        if (!value.includes('\0')) id = value;
        break;
      default:
        // retry: and unknown fields: nothing to do for us
        break;
    }
    return null;
  };

  for await (const chunk of body) {
    let text = decoder.decode(chunk, { stream: true });
    // A CRLF split across two chunks: the LF belongs to the line the CR already ended.
    if (sawCr && text.startsWith('\n')) text = text.slice(1);
    sawCr = false;
    buffer += text;
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const ch = buffer[i];
      if (ch !== '\n' && ch !== '\r') continue;
      const ev = line(buffer.slice(start, i));
      if (ev) yield ev;
      if (ch === '\r') {
        if (i + 1 < buffer.length) {
          if (buffer[i + 1] === '\n') i++;
        } else {
          sawCr = true;
        }
      }
      start = i + 1;
    }
    buffer = buffer.slice(start);
  }
  // A stream that ends mid-event drops that event (as browsers do).
}
