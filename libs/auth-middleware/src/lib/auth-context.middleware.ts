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
import { SessionRefresh } from './session-refresh.js';
import { clearLogin } from './session.util.js';

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
 * refreshed once however many requests race, on however many instances (SessionRefresh).
 * The provider failing (AuthProviderUnavailableError: no answer, a 5xx, a key set that
 * cannot be fetched) is a 503 that keeps the session as it is; only its final word ends a
 * login (401).
 */
@Injectable()
export class AuthContextMiddleware implements NestMiddleware {
  private readonly logger = new Logger(AuthContextMiddleware.name);
  private readonly refreshes: SessionRefresh;

  constructor(
    private readonly auth: AuthService,
    sessions: DefaultSessionService,
    private readonly revocation: RevocationService,
    private readonly metrics: BodhiMetrics,
  ) {
    this.refreshes = new SessionRefresh(auth, sessions, revocation, metrics);
  }

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

  /**
   * The login with refreshed tokens (SessionRefresh), each refresh counted by how it ended.
   * Only a refusal ends the login (401); the provider or the store failing leaves the session
   * and its tokens as they were (503), for a request after their return to refresh.
   */
  private async refresh(req: Request, staleToken: string): Promise<AccessTokenClaims> {
    const sid = req.sessionID;
    try {
      const { claims, outcome } = await this.refreshes.refresh(req, staleToken);
      this.metrics.refreshes.inc({ outcome });
      return claims;
    } catch (e) {
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
 * or instance had): `rejected` (the provider refused the refresh token, or the session had
 * none left: 401), `unavailable` (the provider or the store failed: 503), `lock_timeout`
 * (the session's lock was not had in time), `other` (anything else, a 500).
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
  return e instanceof AuthProviderUnavailableError ? ApiError.providerUnavailable() : e;
}
