import { Injectable, Logger } from '@nestjs/common';
import { createRemoteJWKSet, errors as joseErrors, JWTPayload, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import type { AuthSettings } from './auth.settings.js';
import { SettingService } from '../settings/setting.service.js';
import { LOGIN_SCOPES, Role, ROLES } from './auth.constants.js';
import {
  AuthGrantRejectedError,
  AuthProviderUnavailableError,
  InvalidAccessTokenError,
} from './auth.errors.js';

export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
}

/** What the server reads from an access token (Keycloak's claim shapes). */
export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  preferred_username?: string;
  email?: string;
  given_name?: string;
  family_name?: string;
  resource_access?: Record<string, { roles?: string[] }>;
}

export interface VerifiedAccessToken {
  claims: AccessTokenClaims;
  /** Signature and issuer are good but `exp` has passed: refresh, don't reject. */
  expired: boolean;
}

export interface AuthorizationRequest {
  url: string;
  state: string;
  pkceVerifier: string;
}

/**
 * The server's OpenID Connect client: discovery, the authorization-code flow with PKCE,
 * refresh, access-token verification against the provider's JWKS, and client-credentials
 * tokens for the provider's admin API (`IdentityProviderAdmin`). Discovery is lazy and
 * retried after a failure, so the server boots even while the provider is still starting.
 */
@Injectable()
export class AuthService {
  private readonly logger = new Logger(AuthService.name);
  private readonly settings: AuthSettings;
  private configuration?: Promise<oidc.Configuration>;
  private jwks?: ReturnType<typeof createRemoteJWKSet>;

  constructor(settings: SettingService) {
    this.settings = settings.auth;
  }

  clientId(): string {
    return this.settings.clientId;
  }

  /** The provider's issuer URL as configured: the base of its endpoints. */
  issuer(): string {
    return this.settings.issuer;
  }

  async authorizationRequest(redirectUri: string): Promise<AuthorizationRequest> {
    const config = await this.config();
    const pkceVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: LOGIN_SCOPES,
      code_challenge: await oidc.calculatePKCECodeChallenge(pkceVerifier),
      code_challenge_method: 'S256',
      state,
    });
    return { url: url.href, state, pkceVerifier };
  }

  /** Exchanges the authorization response (code, state, iss…) for tokens. */
  async exchangeCode(
    redirectUri: string,
    response: Record<string, string>,
    checks: { state: string; pkceVerifier: string },
  ): Promise<TokenSet> {
    const config = await this.config();
    const currentUrl = new URL(redirectUri);
    for (const [key, value] of Object.entries(response)) currentUrl.searchParams.set(key, value);
    const tokens = await this.grant('code exchange', () =>
      oidc.authorizationCodeGrant(config, currentUrl, {
        expectedState: checks.state,
        pkceCodeVerifier: checks.pkceVerifier,
      }),
    );
    return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token };
  }

  async refresh(refreshToken: string): Promise<TokenSet> {
    const config = await this.config();
    const tokens = await this.grant('refresh', () => oidc.refreshTokenGrant(config, refreshToken));
    return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token ?? refreshToken };
  }

  /** Checks signature (JWKS) and issuer; reports expiry instead of throwing on it. */
  async verifyAccessToken(token: string): Promise<VerifiedAccessToken> {
    const config = await this.config();
    this.jwks ??= createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri as string));
    try {
      const { payload } = await jwtVerify<AccessTokenClaims>(token, this.jwks, {
        issuer: config.serverMetadata().issuer,
      });
      return { claims: this.requireSubject(payload), expired: false };
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) {
        return { claims: this.requireSubject(e.payload as AccessTokenClaims), expired: true };
      }
      if (e instanceof InvalidAccessTokenError) throw e;
      if (e instanceof joseErrors.JOSEError)
        throw new InvalidAccessTokenError(`access token rejected: ${e.code}`);
      throw new AuthProviderUnavailableError(`cannot verify access token: ${(e as Error).message}`);
    }
  }

  /**
   * The role this client grants, from Keycloak's `resource_access.<client_id>.roles`. Keycloak
   * lists a user's client roles in no fixed order, so the highest of them (by `ROLES`) wins;
   * entries that are not BodhiApp roles are ignored. Null when none is.
   */
  roleOf(claims: AccessTokenClaims): Role | null {
    const roles = claims.resource_access?.[this.settings.clientId]?.roles;
    if (!Array.isArray(roles)) return null;
    return [...ROLES].reverse().find((role) => roles.includes(role)) ?? null;
  }

  /** An access token of this client itself (client-credentials grant), for admin APIs. */
  async clientCredentialsToken(): Promise<string> {
    const config = await this.config();
    const { access_token } = await this.grant('client credentials', () =>
      oidc.clientCredentialsGrant(config),
    );
    return access_token;
  }

  private requireSubject(payload: Partial<AccessTokenClaims>): AccessTokenClaims {
    if (typeof payload.sub !== 'string' || !payload.sub)
      throw new InvalidAccessTokenError('token has no subject');
    return payload as AccessTokenClaims;
  }

  private config(): Promise<oidc.Configuration> {
    this.configuration ??= oidc
      .discovery(
        new URL(this.settings.issuer),
        this.settings.clientId,
        undefined,
        oidc.ClientSecretBasic(this.settings.clientSecret),
        // Local providers (development, tests) speak plain http.
        new URL(this.settings.issuer).protocol === 'http:'
          ? { execute: [oidc.allowInsecureRequests] }
          : undefined,
      )
      .catch((e: Error) => {
        this.configuration = undefined;
        this.logger.warn(`OpenID discovery at ${this.settings.issuer} failed: ${e.message}`);
        throw new AuthProviderUnavailableError(
          `identity provider unreachable at ${this.settings.issuer}`,
        );
      });
    return this.configuration;
  }

  /** Runs a token-endpoint call, sorting provider refusals from provider outages. */
  private async grant<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      if (e instanceof oidc.ResponseBodyError || e instanceof oidc.AuthorizationResponseError) {
        throw new AuthGrantRejectedError(`${what} rejected by the identity provider: ${e.error}`);
      }
      if (e instanceof oidc.ClientError)
        throw new AuthGrantRejectedError(`${what} failed: ${e.message}`);
      throw new AuthProviderUnavailableError(`${what} failed: identity provider unreachable`);
    }
  }
}
