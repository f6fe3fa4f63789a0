import type { Role } from '@bodhi/services';

/** Who is calling, as resolved once per request by AuthContextMiddleware. */
export type AuthContext =
  | { kind: 'anonymous' }
  | {
      kind: 'session';
      userId: string;
      username: string;
      firstName: string | null;
      lastName: string | null;
      email: string | null;
      role: Role | null;
    }
  | { kind: 'api_token'; subject: string; role: Role | null };

/** Session keys that hold a login; removed together when the login ends. */
export const AUTH_SESSION_KEYS = [
  'user_id',
  'access_token',
  'refresh_token',
  'login_at',
  'refresh_lease',
] as const;
/** Session keys of a login in progress (authorization-code flow). */
export const OAUTH_SESSION_KEYS = ['oauth_state', 'pkce_verifier', 'callback_url'] as const;

/** Who is refreshing a session's tokens, and until when the claim holds (epoch ms). */
export interface RefreshLease {
  id: string;
  until: number;
}

declare module 'express-session' {
  interface SessionData {
    access_token?: string;
    refresh_token?: string;
    /** When the login's code exchange began (epoch ms): what a revocation is ordered against. */
    login_at?: number;
    /**
     * A request (of any instance) is refreshing the login's tokens at the provider: the others
     * wait for its outcome rather than spend the same refresh token (SessionRefresh).
     */
    refresh_lease?: RefreshLease;
    oauth_state?: string;
    pkce_verifier?: string;
    callback_url?: string;
    /**
     * Set once a callback has taken this session's login (the session goes on under its old
     * id beside the new, logged-in one): that login's state, so later callbacks of it answer
     * 409. The session then holds nothing else besides its cookie: no login, no user.
     */
    login_taken?: string;
  }
}

declare module 'express-serve-static-core' {
  interface Request {
    authContext?: AuthContext;
  }
}
