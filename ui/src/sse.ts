// Server-sent events parser for a fetch body (EventSource cannot send an Authorization header).
// WHATWG rules: `field: value` lines, a blank line dispatches, data lines join with \n, lines
// starting with ':' are comments (the server's keep-alives), CR, LF and CRLF all end a line.

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | null = null;
  private sawCr = false;

  /** Feeds decoded text; returns the events it completed. */
  push(text: string): SseMessage[] {
    // A CRLF split across two chunks: the LF belongs to the line the CR already ended.
    if (this.sawCr && text.startsWith('\n')) text = text.slice(1);
    this.sawCr = false;
    this.buffer += text;
    const out: SseMessage[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const ch = this.buffer[i];
      if (ch !== '\n' && ch !== '\r') continue;
      const ev = this.line(this.buffer.slice(start, i));
      if (ev) out.push(ev);
      if (ch === '\r') {
        if (i + 1 < this.buffer.length) {
          if (this.buffer[i + 1] === '\n') i++;
        } else {
          this.sawCr = true;
        }
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  private line(text: string): SseMessage | null {
    if (text === '') {
      if (this.data.length === 0) {
        this.event = '';
        return null;
      }
      const msg = { id: this.id, event: this.event || 'message', data: this.data.join('\n') };
      this.data = [];
      this.event = '';
      this.id = null;
      return msg;
    }
    if (text.startsWith(':')) return null;
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    return null;
  }
}
