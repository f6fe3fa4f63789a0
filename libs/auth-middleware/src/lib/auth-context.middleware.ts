import { Injectable, Logger, NestMiddleware } from '@nestjs/common';
import {
  AccessTokenClaims,
  AuthGrantRejectedError,
  AuthProviderUnavailableError,
  AuthService,
  BodhiMetrics,
  DefaultSessionService,
  InvalidAccessTokenError,
  RevocationService,
  SessionLockTimeoutError,
  sessionRef,
  SessionStoreUnavailableError,
  TokenRevokedError,
  userNotBefore,
} from '@bodhi/services';
import type { NextFunction, Request, Response } from 'express';
import { ApiError } from './api-error.js';
import type { AuthContext } from './auth-context.js';
import { clearLogin, saveSession } from './session.util.js';

/** An Authorization header carrying a bearer token, and the token. */
const BEARER = /^Bearer\s+(\S+)$/i;

/**
 * Every pattern this module applies to a request's headers: a spec runs a ReDoS checker over
 * them, so a pattern added here must be added to this list.
 */
export const AUTH_HEADER_PATTERNS: readonly RegExp[] = [BEARER];

/**
 * Resolves who is calling, once per request, into `req.authContext`: from an
 * `Authorization: Bearer` token of our provider, else from the session's tokens, else
 * anonymous. A revoked token is refused either way (401 `token_revoked`): a bearer by its
 * own revocation record and its user's not-before instant (one read), a session by the
 * not-before read with the session itself (no extra read). An expired session token is
 * refreshed under the session's lock (which holds across instances on PostgreSQL): the
 * first request refreshes, the others wait, re-read the session and use the new tokens —
 * one refresh however many requests race.
 */
@Injectable()
export class AuthContextMiddleware implements NestMiddleware {
  private readonly logger = new Logger(AuthContextMiddleware.name);

  constructor(
    private readonly auth: AuthService,
    private readonly sessions: DefaultSessionService,
    private readonly revocation: RevocationService,
    private readonly metrics: BodhiMetrics,
  ) {}

  async use(req: Request, _res: Response, next: NextFunction): Promise<void> {
    try {
      req.authContext = await this.resolve(req);
      next();
    } catch (e) {
      next(toApiError(e));
    }
  }

  private async resolve(req: Request): Promise<AuthContext> {
    const bearer = BEARER.exec(req.headers.authorization ?? '')?.[1];
    if (bearer) return this.fromBearer(bearer);
    const accessToken = req.session?.access_token;
    if (!accessToken) return { kind: 'anonymous' };
    let verified;
    try {
      verified = await this.auth.verifyAccessToken(accessToken);
    } catch (e) {
      if (!(e instanceof InvalidAccessTokenError)) throw e;
      await clearLogin(req);
      throw ApiError.unauthorized(
        'invalid_session_token',
        'The session holds an invalid token; log in again',
      );
    }
    try {
      this.revocation.checkSession(
        verified.claims,
        userNotBefore(req.session),
        req.session.login_at,
      );
    } catch (e) {
      if (!(e instanceof TokenRevokedError)) throw e;
      this.logger.log(`Ending login of session ${sessionRef(req.sessionID)}: ${e.message}`);
      await clearLogin(req);
      throw revoked();
    }
    const claims = verified.expired ? await this.refresh(req, accessToken) : verified.claims;
    return this.sessionContext(claims);
  }

  private async fromBearer(token: string): Promise<AuthContext> {
    let verified;
    try {
      verified = await this.auth.verifyAccessToken(token);
    } catch (e) {
      if (!(e instanceof InvalidAccessTokenError)) throw e;
      throw ApiError.unauthorized('invalid_token', 'The bearer token is not valid');
    }
    if (verified.expired)
      throw ApiError.unauthorized('token_expired', 'The bearer token has expired');
    try {
      await this.revocation.checkBearer(verified.claims);
    } catch (e) {
      if (e instanceof TokenRevokedError) throw revoked();
      throw e;
    }
    return {
      kind: 'api_token',
      subject: verified.claims.sub,
      role: this.auth.roleOf(verified.claims),
    };
  }

  private async refresh(req: Request, staleToken: string): Promise<AccessTokenClaims> {
    const sid = req.sessionID;
    // The wait ends when the lock is had, or when asking for it failed (a lock timeout):
    // those are the longest waits, and the histogram must show them.
    const lockWait = this.metrics.refreshLockWait.startTimer();
    let waitEnded = false;
    const endWait = () => {
      if (!waitEnded) lockWait();
      waitEnded = true;
    };
    try {
      // Counted once the lock is let go: a save that fails to commit is a failed refresh.
      const { claims, outcome } = await this.sessions.withSessionLock(sid, async () => {
        endWait();
        // Another request (or instance) may have refreshed while we waited for the lock.
        const current = await this.sessions.getSessionStore().findSession(sid);
        if (!current?.access_token) throw new AuthGrantRejectedError('the session has ended');
        if (current.access_token !== staleToken) {
          const fresh = await this.auth.verifyAccessToken(current.access_token);
          if (!fresh.expired) {
            req.session.access_token = current.access_token;
            req.session.refresh_token = current.refresh_token;
            return { claims: fresh.claims, outcome: 'reused' as const };
          }
        }
        if (!current.refresh_token)
          throw new AuthGrantRejectedError('the session has no refresh token');
        const tokens = await this.auth.refresh(current.refresh_token);
        const fresh = await this.auth.verifyAccessToken(tokens.accessToken);
        req.session.access_token = tokens.accessToken;
        req.session.refresh_token = tokens.refreshToken;
        // Saved inside the lock, so the next waiter reads the new tokens.
        await saveSession(req);
        this.logger.debug(`Refreshed tokens of session ${sessionRef(sid)}`);
        return { claims: fresh.claims, outcome: 'refreshed' as const };
      });
      this.metrics.refreshes.inc({ outcome });
      return claims;
    } catch (e) {
      endWait();
      this.metrics.refreshes.inc({ outcome: refreshFailure(e) });
      if (!(e instanceof AuthGrantRejectedError || e instanceof InvalidAccessTokenError)) throw e;
      this.logger.log(`Ending login of session ${sessionRef(sid)}: ${e.message}`);
      await clearLogin(req);
      throw ApiError.unauthorized('token_refresh_failed', 'The login has expired; log in again');
    }
  }

  private sessionContext(claims: AccessTokenClaims): AuthContext {
    return {
      kind: 'session',
      userId: claims.sub,
      username: claims.preferred_username ?? claims.email ?? claims.sub,
      firstName: claims.given_name ?? null,
      lastName: claims.family_name ?? null,
      email: claims.email ?? null,
      role: this.auth.roleOf(claims),
    };
  }
}

/**
 * How a refresh that threw ended, as `bodhi_token_refreshes_total{outcome}` counts it beside
 * `refreshed` (this request got new tokens from the provider) and `reused` (another request
 * or instance had, while this one waited for the lock): `rejected` (the provider refused the
 * refresh token, or the session had none left: 401), `unavailable` (the provider or the
 * store failed: 503), `lock_timeout` (another instance held the session's lock too long),
 * `other` (anything else, a 500).
 */
function refreshFailure(e: unknown): 'rejected' | 'unavailable' | 'lock_timeout' | 'other' {
  if (e instanceof AuthGrantRejectedError || e instanceof InvalidAccessTokenError)
    return 'rejected';
  if (e instanceof AuthProviderUnavailableError || e instanceof SessionStoreUnavailableError)
    return 'unavailable';
  if (e instanceof SessionLockTimeoutError) return 'lock_timeout';
  return 'other';
}

const revoked = () =>
  ApiError.unauthorized('token_revoked', 'The token has been revoked; log in again');

/** Provider outages are 503s; anything already an ApiError passes through. */
function toApiError(e: unknown): unknown {
  if (e instanceof AuthProviderUnavailableError) {
    return ApiError.unavailable(
      'auth_provider_unavailable',
      'The identity provider is unavailable; try again',
    );
  }
  return e;
}
