import { CLIENT_SECRET } from './stack.js';
import { TEST_SECRET } from './session-db.js';

/** What a logged-in, refreshed session gave a log-checking spec to search the logs for. */
export interface SessionSecretSources {
  /** The session row before and after its tokens were refreshed (stack.session(sid)). */
  before: Record<string, unknown>;
  after: Record<string, unknown>;
  sid: string;
  /** The browser's session cookie (`name=value`). */
  cookie: string;
  /** The session database's password (startStackOnPrivatePostgres's). */
  dbPassword: string;
}

/**
 * Every secret a login, a refresh and a logout on a stack puts in play, by name: the secrets
 * no log line may contain. Fails naming any that is missing or too short to search for (a
 * search for nothing would always pass).
 */
export function sessionSecrets(s: SessionSecretSources): Record<string, string> {
  const secrets: Record<string, unknown> = {
    'access token': s.before.access_token,
    'refreshed access token': s.after.access_token,
    'refresh token': s.before.refresh_token,
    'rotated refresh token': s.after.refresh_token,
    'session id': s.sid,
    'cookie value': decodeURIComponent(s.cookie.split('=')[1] ?? ''),
    'cookie secret': TEST_SECRET,
    'client secret': CLIENT_SECRET,
    'database password': s.dbPassword,
  };
  const missing = Object.entries(secrets)
    .filter(([, secret]) => !(typeof secret === 'string' && secret.length > 8))
    .map(([name]) => name);
  if (missing.length > 0)
    throw new Error(`no secret to search the logs for: ${missing.join(', ')}`);
  return secrets as Record<string, string>;
}

/** The names of the `secrets` that occur in `log`. */
export const secretsIn = (log: string, secrets: Record<string, string>): string[] =>
  Object.entries(secrets)
    .filter(([, secret]) => log.includes(secret))
    .map(([name]) => name);
