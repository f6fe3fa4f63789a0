// The oidc-provider configuration: one confidential client (the BodhiApp server), the demo
// users as accounts, and Keycloak-shaped JWT access tokens.
//
// JWT access tokens: oidc-provider issues JWT access tokens only for a "resource server"
// (RFC 8707 resource indicators). Every authorization of the client is therefore pinned to
// one resource indicator (RESOURCE below, never visible in tokens) whose resource server says
// `accessTokenFormat: 'jwt'`, audience = the client id, RS256 and the configured TTL.
// `defaultResource` supplies it when a request has no `resource` parameter, and
// `useGrantedResource` makes the token endpoint use it for authorization-code and refresh
// grants too - so a plain code + refresh flow (what an OIDC client library does) gets JWTs.
import { randomBytes } from 'node:crypto';
import type { JWK } from 'jose';
import Provider, {
  errors,
  type AdapterFactory,
  type ClientMetadata,
  type Configuration,
  type KoaContextWithOIDC,
} from 'oidc-provider';

import type { DevAuthConfig } from './config.js';
import { SIGNING_ALG } from './keys.js';
import { escapeHtml, page } from './html.js';
import { profileClaims, tokenRoles, type UserStore } from './users.js';

/** Identifies the BodhiApp server as a resource server; an absolute URI, as RFC 8707 asks. */
export function resourceIndicatorFor(clientId: string): string {
  return `urn:dev-auth-server:resource:${encodeURIComponent(clientId)}`;
}

/** The metadata of the one client (the BodhiApp server), as the adapter stores it. */
export function clientMetadata(config: DevAuthConfig): ClientMetadata {
  return {
    client_id: config.clientId,
    client_secret: config.clientSecret,
    redirect_uris: config.redirectUris,
    post_logout_redirect_uris: config.postLogoutRedirectUris,
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    // oidc-provider treats client_secret_basic and client_secret_post as one family:
    // a client registered for either may authenticate with both.
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: SIGNING_ALG,
  };
}

/** Scopes a client may ask for. Like Keycloak's default client scopes, the profile and email
 * claims come with `openid` alone; `profile`, `email` and `roles` are accepted for clients
 * that ask for them (BodhiApp does). */
const SCOPES = ['openid', 'offline_access', 'profile', 'email', 'roles'];
/** The scopes an access token can carry (its `scope` claim): those requested, among these. */
const ACCESS_TOKEN_SCOPES = 'openid profile email roles';
const PROFILE_CLAIMS = [
  'preferred_username',
  'email',
  'email_verified',
  'given_name',
  'family_name',
  'name',
];

const HOUR = 60 * 60;
/**
 * The least a client-credentials token lives. Users' tokens take the configured lifetime,
 * which tests set to a second or two to exercise refresh; the admin API's callers (the
 * server, the test kit registering a redirect URI) get a token and use it at once, and on a
 * loaded machine a 1 s token expired between the two (401 from the admin API).
 */
export const MIN_CLIENT_CREDENTIALS_TTL_SECONDS = 60;
const DAY = 24 * HOUR;

export interface ProviderOptions {
  issuer: string;
  config: DevAuthConfig;
  users: UserStore;
  signingKey: JWK;
  /** Where sessions, grants and tokens live. */
  adapter: AdapterFactory;
}

export function createProvider({
  issuer,
  config,
  users,
  signingKey,
  adapter,
}: ProviderOptions): Provider {
  const { clientId, accessTokenTtlSeconds } = config;
  const clientCredentialsTtl = Math.max(accessTokenTtlSeconds, MIN_CLIENT_CREDENTIALS_TTL_SECONDS);
  const resource = resourceIndicatorFor(clientId);

  const configuration: Configuration = {
    adapter,
    jwks: { keys: [signingKey] },
    // Cookie-signing keys; sessions live in memory anyway, so a new key per start is fine.
    cookies: { keys: [randomBytes(32).toString('base64url')] },

    // The client lives in the adapter (clientMetadata, stored by createDevAuthServer), not in
    // static configuration: oidc-provider re-reads an adapter client whenever its metadata
    // changes, so the admin API can register a redirect URI once a server knows its port.
    clients: [],

    scopes: SCOPES,
    claims: {
      openid: ['sub', ...PROFILE_CLAIMS],
      profile: PROFILE_CLAIMS.filter((c) => !c.startsWith('email')),
      email: ['email', 'email_verified'],
    },
    // Put the requested scopes' claims in the ID token too, not only at userinfo.
    conformIdTokenClaims: false,

    async findAccount(_ctx, sub) {
      if (!users.find(sub)) return undefined;
      return {
        accountId: sub,
        // Read at call time, so a token issued after a change sees the current data.
        claims: () => {
          const user = users.find(sub);
          return user ? profileClaims(user) : { sub };
        },
      };
    },

    // The access token's extra claims, Keycloak-style: the profile and the client roles under
    // resource_access. Read from the user store at issue time, so a role change shows in the
    // next login or refresh. Client-credentials tokens (no user) get none.
    async extraTokenClaims(_ctx, token) {
      const accountId = 'accountId' in token ? token.accountId : undefined;
      const user = accountId ? users.find(accountId) : undefined;
      if (!user) return undefined;
      // `sub`, `iss`, `aud`, `exp`, ... are set by oidc-provider and win over these.
      return {
        ...profileClaims(user),
        azp: token.clientId,
        resource_access: { [clientId]: { roles: tokenRoles(user) } },
      };
    },

    pkce: { required: () => true }, // oidc-provider 9 accepts only S256
    // Refresh tokens without asking for offline_access (as Keycloak does), rotated on every
    // use: a used refresh token is dead, and replaying it revokes the whole grant.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    // Refresh tokens live their own TTL rather than ending with the provider's browser
    // session; logging out at the provider does not revoke them (revoke them explicitly).
    expiresWithSession: () => false,

    // First-party client: never show a consent screen. Every authorization request of the
    // logged-in user is granted what it asks for (see grantEverythingRequested).
    loadExistingGrant: grantEverythingRequested,

    ttl: {
      AccessToken: accessTokenTtlSeconds,
      ClientCredentials: clientCredentialsTtl,
      // ID tokens are checked once, on receipt; an hour spares slow clients clock trouble
      // when tests use access tokens of a few seconds.
      IdToken: HOUR,
      AuthorizationCode: 60,
      Interaction: HOUR,
      RefreshToken: 14 * DAY,
      Session: 14 * DAY,
      Grant: 14 * DAY,
    },

    features: {
      devInteractions: { enabled: false }, // our own login form, see interactions.ts
      clientCredentials: { enabled: true }, // the admin API's tokens
      revocation: { enabled: true, allowedPolicy: sameClient },
      introspection: { enabled: true, allowedPolicy: sameClient },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, indicator, client) {
          if (indicator !== resource || client.clientId !== clientId) {
            throw new errors.InvalidTarget();
          }
          return {
            scope: ACCESS_TOKEN_SCOPES,
            audience: clientId,
            accessTokenFormat: 'jwt',
            accessTokenTTL:
              ctx.oidc.params?.grant_type === 'client_credentials'
                ? clientCredentialsTtl
                : accessTokenTtlSeconds,
            jwt: { sign: { alg: SIGNING_ALG } },
          };
        },
      },
    },

    clientBasedCORS: () => false, // a confidential client calls from its server, not a browser
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page(
        'Something went wrong',
        Object.entries(out)
          .map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</p>`)
          .join(''),
      );
    },
  };

  return new Provider(issuer, configuration);
}

/**
 * loadExistingGrant: the user's grant for the client (from the session, or new), extended
 * with every OpenID scope, claim and resource scope the current request asks for, and saved.
 * The consent prompt then never finds anything missing and the flow goes straight from the
 * login form back to the client's redirect_uri.
 */
async function grantEverythingRequested(ctx: KoaContextWithOIDC) {
  const { oidc } = ctx;
  const { client, session, account } = oidc;
  if (!client || !session || !account) return undefined;

  const grantId = oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
  const found = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  const existing = found?.accountId === account.accountId ? found : undefined;
  const grant =
    existing ??
    new oidc.provider.Grant({ clientId: client.clientId, accountId: account.accountId });

  grant.addOIDCScope(oidc.requestParamOIDCScopes);
  grant.addOIDCClaims(oidc.requestParamClaims);
  for (const [indicator, server] of Object.entries(oidc.resourceServers ?? {})) {
    const scopes = [...oidc.requestParamScopes].filter((scope) => server.scopes.has(scope));
    grant.addResourceScope(indicator, scopes);
  }
  await grant.save();
  return grant;
}

/**
 * Ends the grants `grantIds` and every token issued under them, as oidc-provider does when a
 * refresh token is revoked (its revoke helper, which needs a request context of its own
 * routes). Their refresh tokens then get `invalid_grant`; JWT access tokens are not stored
 * and live until they expire.
 */
export async function revokeGrants(provider: Provider, grantIds: string[]): Promise<void> {
  for (const grantId of grantIds) {
    await Promise.all(
      [provider.AccessToken, provider.RefreshToken, provider.AuthorizationCode].map((model) =>
        model.revokeByGrantId(grantId),
      ),
    );
    await (await provider.Grant.find(grantId))?.destroy();
  }
}

function sameClient(ctx: KoaContextWithOIDC, client: { clientId: string }, token: unknown) {
  return (token as { clientId?: string }).clientId === client.clientId;
}
