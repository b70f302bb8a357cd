// Calls to the registry's public API from the browser. The bearer token (AUTH_MODE token/instance)
// lives in sessionStorage only: it goes with this tab, is never written to disk by us, and only
// ever travels in the Authorization header (never in a URL).

const TOKEN_KEY = 'agent-mesh-console.token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get isAuth(): boolean {
    return this.status === 401;
  }
}

/** `{error, code}` of a failed answer, or a stand-in when the body is not that JSON. */
export async function errorOf(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let message = `${res.status} ${res.statusText}`.trim();
  try {
    const body = (await res.json()) as { error?: unknown; code?: unknown };
    if (typeof body.code === 'string') code = body.code;
    if (typeof body.error === 'string') message = body.error;
  } catch {
    // Not JSON (a proxy's page): keep the status line.
  }
  return new ApiError(res.status, code, message);
}

export class Api {
  private tokenValue: string | null;

  constructor(private readonly storage: Storage = sessionStorage) {
    this.tokenValue = storage.getItem(TOKEN_KEY);
  }

  get token(): string | null {
    return this.tokenValue;
  }

  setToken(token: string | null): void {
    this.tokenValue = token;
    if (token) this.storage.setItem(TOKEN_KEY, token);
    else this.storage.removeItem(TOKEN_KEY);
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json', ...extra };
    if (this.tokenValue) h.authorization = `Bearer ${this.tokenValue}`;
    return h;
  }

  async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    const res = await fetch(path, { headers: this.headers(), cache: 'no-store', signal });
    if (!res.ok) throw await errorOf(res);
    return (await res.json()) as T;
  }
}
