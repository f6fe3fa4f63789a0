import { Injectable, Logger } from '@nestjs/common';
import {
  createRemoteJWKSet,
  customFetch as joseCustomFetch,
  decodeProtectedHeader,
  errors as joseErrors,
  JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from 'jose';
import * as oidc from 'openid-client';
import type { AuthSettings } from './auth.settings.js';
import { SettingService } from '../settings/setting.service.js';
import { LOGIN_SCOPES, Role, ROLES } from './auth.constants.js';
import { AuthProviderUnavailableError, InvalidAccessTokenError } from './auth.errors.js';
import { boundedFetch, type ProviderFetch } from './provider-fetch.js';
import {
  CLIENT_CREDENTIALS,
  CODE_EXCHANGE,
  keySetFailure,
  providerCallFailure,
  REFRESH,
  REVOCATION,
  type ProviderCall,
} from './provider-failures.js';

export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
}

/** What the server reads from an access token (Keycloak's claim shapes). */
export interface AccessTokenClaims extends JWTPayload {
  /** The user: a token without one (client credentials) is refused. */
  sub: string;
  iat: number;
  exp: number;
  jti: string;
  preferred_username?: string;
  email?: string;
  given_name?: string;
  family_name?: string;
  resource_access?: Record<string, { roles?: string[] }>;
}

export interface VerifiedAccessToken {
  claims: AccessTokenClaims;
  /** Every check passes but `exp` has passed: refresh, don't reject. */
  expired: boolean;
}

/** Claims every access token must carry; jose checks they are there. */
const REQUIRED_CLAIMS = ['exp', 'iat', 'sub', 'jti'];

/**
 * How long a refresh's call to the provider may take, however long the request that needs
 * it waits (BODHI_AUTH_TIMEOUT_MS). A provider that stalled may act on the refresh once it
 * resumes, spending the old refresh token (rotation: it is refused from then on, and a
 * replay may end the whole grant); its answer must still find the call waiting then, or the
 * login is lost. A minute covers a pause or a restart; a provider away longer has failed.
 */
export const REFRESH_CALL_TIMEOUT_MS = 60_000;

export interface AuthorizationRequest {
  url: string;
  state: string;
  pkceVerifier: string;
}

/** `application/` before a media type's subtype (a JWT's `typ` may carry it, RFC 7515 §4.1.9). */
const MEDIA_TYPE_PREFIX = /^application\//;

/**
 * Every pattern this module applies to a token (a bearer's, a client's to choose): a spec
 * runs a ReDoS checker over them, so a pattern added here must be added to this list.
 */
export const TOKEN_PATTERNS: readonly RegExp[] = [MEDIA_TYPE_PREFIX];

/**
 * The server's OpenID Connect client: discovery, the authorization-code flow with PKCE,
 * refresh, refresh-token revocation, access-token verification against the provider's JWKS,
 * and client-credentials tokens for the provider's admin API (`IdentityProviderAdmin`).
 * Discovery is lazy and retried after a failure, so the server boots even while the provider
 * is still starting. Every call to the provider goes through `fetch`, bounded by
 * BODHI_AUTH_TIMEOUT_MS, and its failures are sorted in one place (provider-failures.ts):
 * AuthGrantRejectedError / InvalidAccessTokenError only for the provider's final word,
 * AuthProviderUnavailableError for everything else.
 */
@Injectable()
export class AuthService {
  private readonly logger = new Logger(AuthService.name);
  private readonly settings: AuthSettings;
  private configuration?: Promise<oidc.Configuration>;
  /** The discovered configuration, with the refresh's longer bound (REFRESH_CALL_TIMEOUT_MS). */
  private refreshConfiguration?: oidc.Configuration;
  private keys?: JWTVerifyGetKey;
  /** fetch as every call to the provider makes it: bounded by BODHI_AUTH_TIMEOUT_MS. */
  readonly fetch: ProviderFetch;

  constructor(settings: SettingService) {
    this.settings = settings.auth;
    this.fetch = boundedFetch(this.settings.timeoutMs);
  }

  /** How long one call to the provider may take (BODHI_AUTH_TIMEOUT_MS), a refresh's aside. */
  timeoutMs(): number {
    return this.settings.timeoutMs;
  }

  /** How long a refresh's call to the provider may take (REFRESH_CALL_TIMEOUT_MS, or more). */
  refreshTimeoutMs(): number {
    return Math.max(REFRESH_CALL_TIMEOUT_MS, this.settings.timeoutMs);
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
    const tokens = await this.call(CODE_EXCHANGE, () =>
      oidc.authorizationCodeGrant(config, currentUrl, {
        expectedState: checks.state,
        pkceCodeVerifier: checks.pkceVerifier,
      }),
    );
    return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token };
  }

  /**
   * A refresh grant. Its call may take `refreshTimeoutMs()`, longer than any other: a caller
   * that cannot wait as long (a request) stops waiting, not the call (see
   * REFRESH_CALL_TIMEOUT_MS).
   */
  async refresh(refreshToken: string): Promise<TokenSet> {
    const discovered = await this.config();
    this.refreshConfiguration ??= this.client(discovered.serverMetadata(), this.refreshTimeoutMs());
    const config = this.refreshConfiguration;
    const tokens = await this.call(REFRESH, () => oidc.refreshTokenGrant(config, refreshToken));
    return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token ?? refreshToken };
  }

  /**
   * Checks that `token` is an access token of our provider for this client and a user:
   * signature (JWKS, the configured algorithms only), issuer, the required claims, audience
   * (`aud` or `azp`), type, and a subject that is not the client. Reports expiry instead of
   * throwing on it, once every other check has passed. InvalidAccessTokenError when a check
   * fails against a key the provider's key set holds (or, fetched for this very check, does
   * not hold); AuthProviderUnavailableError when the key set could not be had.
   */
  async verifyAccessToken(token: string): Promise<VerifiedAccessToken> {
    const config = await this.config();
    try {
      const { protectedHeader, payload } = await jwtVerify(token, this.keySet(config), {
        issuer: config.serverMetadata().issuer,
        algorithms: this.settings.tokenAlgorithms,
        requiredClaims: REQUIRED_CLAIMS,
      });
      return { claims: this.accessTokenClaims(protectedHeader, payload), expired: false };
    } catch (e) {
      if (e instanceof InvalidAccessTokenError || e instanceof AuthProviderUnavailableError)
        throw e;
      if (e instanceof joseErrors.JWTExpired) {
        // jose reports expiry only once the algorithm, signature, issuer and required
        // claims have passed (after it comes only maxTokenAge, not used here): our own
        // checks are what is left. The header is the one whose signature was verified.
        const claims = this.accessTokenClaims(decodeProtectedHeader(token), e.payload);
        return { claims, expired: true };
      }
      if (e instanceof joseErrors.JWTClaimValidationFailed)
        throw new InvalidAccessTokenError(
          `access token rejected: ${e.code} (${e.claim} ${e.reason})`,
        );
      if (e instanceof joseErrors.JOSEError)
        throw new InvalidAccessTokenError(`access token rejected: ${e.code}`);
      throw new AuthProviderUnavailableError(`cannot verify access token: ${(e as Error).message}`);
    }
  }

  /**
   * Revokes `refreshToken` at the provider (RFC 7009): a refresh with it then fails with
   * `invalid_grant`. Providers may end more with it (oidc-provider, the development
   * provider's base, ends the whole grant). A token the provider does not know is no error
   * (RFC 7009 §2.2).
   */
  async revokeRefreshToken(refreshToken: string): Promise<void> {
    const config = await this.config();
    await this.call(REVOCATION, () =>
      oidc.tokenRevocation(config, refreshToken, { token_type_hint: 'refresh_token' }),
    );
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
    const { access_token } = await this.call(CLIENT_CREDENTIALS, () =>
      oidc.clientCredentialsGrant(config),
    );
    return access_token;
  }

  /** What jose cannot check: the claims' types, audience, token type and resource owner. */
  private accessTokenClaims(header: { typ?: string }, payload: JWTPayload): AccessTokenClaims {
    const { clientId } = this.settings;
    const { sub, jti, aud, azp } = payload;
    // jose has checked that `exp` and `iat` are numbers.
    if (typeof sub !== 'string' || !sub) throw new InvalidAccessTokenError('token has no subject');
    if (typeof jti !== 'string' || !jti) throw new InvalidAccessTokenError('token has no jti');
    // The party the token was issued to (`azp`) must be this client when the token names
    // one: another client's token that merely lists us in `aud` is not ours. Keycloak names
    // the client in `azp` and puts "account" in `aud`; without `azp`, `aud` must name us.
    const audiences = Array.isArray(aud) ? aud : [aud];
    if (azp !== undefined ? azp !== clientId : !audiences.includes(clientId))
      throw new InvalidAccessTokenError('token is not for this client');
    // RFC 9068's `typ` header; Keycloak marks its access tokens (and not its ID tokens) with
    // a `typ` claim instead.
    const typ = header.typ?.toLowerCase().replace(MEDIA_TYPE_PREFIX, '');
    if (typ !== 'at+jwt' && payload.typ !== 'Bearer')
      throw new InvalidAccessTokenError('token is not an access token');
    // RFC 9068 §2.2: a token of the client itself (client credentials) has the client as
    // its subject; it acts for no user.
    if (sub === payload.client_id || sub === clientId)
      throw new InvalidAccessTokenError('token has no resource owner');
    return payload as AccessTokenClaims;
  }

  private config(): Promise<oidc.Configuration> {
    this.configuration ??= oidc
      .discovery(
        new URL(this.settings.issuer),
        this.settings.clientId,
        undefined,
        oidc.ClientSecretBasic(this.settings.clientSecret),
        this.clientOptions(this.settings.timeoutMs),
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

  /** openid-client's options for calls bounded to `timeoutMs` each. */
  private clientOptions(timeoutMs: number) {
    return {
      [oidc.customFetch]: boundedFetch(timeoutMs),
      // openid-client's own bound, in whole seconds, never before ours.
      timeout: Math.ceil(timeoutMs / 1000),
      // Local providers (development, tests) speak plain http.
      execute:
        new URL(this.settings.issuer).protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
    };
  }

  /** A configuration of this client at the discovered provider, its calls bounded to `timeoutMs`. */
  private client(server: oidc.ServerMetadata, timeoutMs: number): oidc.Configuration {
    const config = new oidc.Configuration(
      server,
      this.settings.clientId,
      undefined,
      oidc.ClientSecretBasic(this.settings.clientSecret),
    );
    const options = this.clientOptions(timeoutMs);
    config[oidc.customFetch] = options[oidc.customFetch];
    config.timeout = options.timeout;
    for (const extension of options.execute) extension(config);
    return config;
  }

  /**
   * The provider's key set, fetched when first needed (and by jose again when stale, or for
   * a key it does not hold, at most every 30 s), with each failure to get a key sorted: a
   * key the provider does not have is final only when the set was fetched for this call.
   */
  private keySet(config: oidc.Configuration): JWTVerifyGetKey {
    if (this.keys) return this.keys;
    let fetched = 0;
    const remote = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri as string), {
      timeoutDuration: this.settings.timeoutMs,
      [joseCustomFetch]: async (url, init) => {
        const response = await this.fetch(url, init);
        if (response.status === 200) fetched++;
        return response;
      },
    });
    this.keys = async (header, token) => {
      const before = fetched;
      try {
        return await remote(header, token);
      } catch (e) {
        throw keySetFailure(e, fetched > before);
      }
    };
    return this.keys;
  }

  /** Runs an openid-client call of kind `call`, its failure sorted (providerCallFailure). */
  private async call<T>(call: ProviderCall, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      throw providerCallFailure(call, e);
    }
  }
}
