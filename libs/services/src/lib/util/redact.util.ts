/** What a redacted secret is written as, in messages and log lines alike. */
export const REDACTED = '***';

/**
 * Replaces the password of every URL with userinfo found in `text` by `***`.
 * Works on free text (error messages, log lines), not only on a lone URL, because
 * drivers like to echo connection strings inside their own messages.
 */
export function redactUrlPasswords(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)([^@\s]*)@/gi, `$1${REDACTED}@`);
}

/** Removes every given secret (passwords, keys) from `text`, plus any URL password. */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = redactUrlPasswords(text);
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/** The password in a URL, decoded, if there is one: what a message must never contain. */
export function urlPassword(url: string): string | undefined {
  try {
    const password = new URL(url).password;
    return password ? decodeURIComponent(password) : undefined;
  } catch {
    return undefined;
  }
}
