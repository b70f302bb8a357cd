// AUTH_MODE token or instance: the console needs a bearer token (a shared/admin token; in
// instance mode an admin token also lets it read every inbox's pending ids). It is kept in this
// tab's sessionStorage only.
import { useState } from 'preact/hooks';
import type { AuthState } from '../store';

export function TokenPrompt({ auth, onSubmit }: { auth: AuthState; onSubmit: (token: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <form
      class="token-prompt"
      data-testid="token-prompt"
      onSubmit={(e) => {
        e.preventDefault();
        if (value.trim()) onSubmit(value.trim());
      }}
    >
      <h2>{auth.state === 'rejected' ? 'Token refused' : 'This registry needs a token'}</h2>
      <p>
        The registry runs with <code>AUTH_MODE=token</code> or <code>instance</code>. Enter a token from <code>AUTH_TOKENS</code> or{' '}
        <code>ADMIN_TOKENS</code>. It stays in this browser tab only and is sent as a bearer header.
      </p>
      {auth.message && (
        <p class="alert" role="alert" data-testid="auth-error">
          {auth.message}
        </p>
      )}
      <label>
        Token
        <input
          type="password"
          name="token"
          autocomplete="off"
          spellcheck={false}
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
          data-testid="token-input"
        />
      </label>
      <button type="submit" data-testid="token-submit">
        Connect
      </button>
    </form>
  );
}
