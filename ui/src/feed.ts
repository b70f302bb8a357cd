// The membership feed (GET /registry/events) over fetch, so the bearer token goes in a header.
// Reconnects by itself with backoff and resumes with Last-Event-ID, so nothing that happened while
// it was away is missed (the server says `gap: true` in `ready` when its capped history no longer
// reaches back that far; the console then re-reads the listing).
import { errorOf, type Api, type ApiError } from './api';
import { SseParser } from './sse';
import type { MeshEvent } from './types';

export type FeedState = 'connecting' | 'live' | 'reconnecting' | 'stopped';

export interface FeedHandlers {
  /** Every (re)connection starts with this. `first`: the very first one of this feed. */
  onReady(cursor: string, gap: boolean, first: boolean): void;
  onEvent(event: MeshEvent): void;
  onState(state: FeedState, detail?: string): void;
  /** 401/403: the feed stops; the console asks for a token. */
  onAuthError(error: ApiError): void;
}

/** No byte for this long (keep-alives come every SSE_KEEPALIVE_MS, 15 s by default): reconnect. */
const SILENCE_MS = 45_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;

export class LiveFeed {
  /** Id of the last event received: where a reconnection resumes. */
  lastId: string | null = null;
  private controller: AbortController | null = null;
  private stopped = false;
  private sawReady = false;

  constructor(
    private readonly api: Api,
    private readonly handlers: FeedHandlers,
  ) {}

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
    this.handlers.onState('stopped');
  }

  private async run(): Promise<void> {
    let delay = BACKOFF_MIN_MS;
    while (!this.stopped) {
      this.handlers.onState(this.sawReady ? 'reconnecting' : 'connecting');
      try {
        const ok = await this.connectOnce(() => {
          delay = BACKOFF_MIN_MS;
        });
        if (!ok) return;
        this.handlers.onState('reconnecting', 'the stream ended');
      } catch (err) {
        if (this.stopped) return;
        this.handlers.onState('reconnecting', err instanceof Error ? err.message : String(err));
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(BACKOFF_MAX_MS, delay * 2);
    }
  }

  /** One connection until it ends; false when the feed must stop (auth refused or stopped). */
  private async connectOnce(onReady: () => void): Promise<boolean> {
    const controller = new AbortController();
    this.controller = controller;
    let silence: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(silence);
      silence = setTimeout(() => controller.abort(new Error('no data from the server')), SILENCE_MS);
    };
    try {
      arm();
      const headers = this.api.headers({ accept: 'text/event-stream' });
      if (this.lastId) headers['last-event-id'] = this.lastId;
      const res = await fetch('/registry/events', { headers, cache: 'no-store', signal: controller.signal });
      if (res.status === 401 || res.status === 403) {
        this.handlers.onAuthError(await errorOf(res));
        return false;
      }
      if (!res.ok || !res.body) throw await errorOf(res);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this.stopped) break;
        arm();
        for (const msg of parser.push(value)) {
          if (msg.event === 'error') throw new Error(`stream error: ${msg.data}`);
          const data = JSON.parse(msg.data) as MeshEvent & { last_id?: string; gap?: boolean };
          if (msg.event === 'ready') {
            const first = !this.sawReady;
            this.sawReady = true;
            this.lastId = data.last_id ?? msg.id ?? this.lastId;
            onReady();
            this.handlers.onState('live');
            this.handlers.onReady(this.lastId ?? '0-0', data.gap === true, first);
            continue;
          }
          if (msg.id) this.lastId = msg.id;
          this.handlers.onEvent(data);
        }
      }
      return !this.stopped;
    } finally {
      clearTimeout(silence);
      controller.abort();
    }
  }
}
