import { DEFAULT_SESSION_TTL_SECONDS } from '@bodhi/services/testing';
import session, { CookieOptions, SessionData } from 'express-session';
import { randomBytes, randomUUID } from 'node:crypto';

declare module 'express-session' {
  interface SessionData {
    access_token?: string;
    refresh_token?: string;
  }
}

/** The session lifetime of the server's default configuration. */
export const TTL_MS = DEFAULT_SESSION_TTL_SECONDS * 1000;
export const BENCH_SECRET = 'bench-cookie-secret-0123456789abcdef0123';

// express-session's Cookie takes its options (the typings omit the constructor).
const Cookie = session.Cookie as unknown as new (options: CookieOptions) => session.Cookie;

const token = (chars: number) =>
  randomBytes(Math.ceil((chars * 3) / 4))
    .toString('base64url')
    .slice(0, chars);

/**
 * A logged-in BodhiApp session as express-session hands it to a store: a real `Cookie`
 * (its `maxAge` and `expires` are what stores read), the user id and the two tokens —
 * about 1.7 KB of JSON, like a Keycloak access token plus refresh token.
 */
export function loggedInSession(userId: string = randomUUID()): SessionData {
  const cookie = new Cookie({ maxAge: TTL_MS, httpOnly: true, path: '/', sameSite: 'strict' });
  return {
    cookie,
    user_id: userId,
    access_token: token(930),
    refresh_token: token(560),
  } as SessionData;
}

/** The same session after a request: tokens refreshed, cookie slid forward. */
export function refreshedSession(previous: SessionData): SessionData {
  return loggedInSession(previous.user_id);
}

export const sessionBytes = (s: SessionData) => Buffer.byteLength(JSON.stringify(s));

/** `n` fresh session ids (express-session ids are 24 random bytes, base64url: 32 chars). */
export function sessionIds(n: number): string[] {
  return Array.from({ length: n }, () => randomBytes(24).toString('base64url'));
}
