// The admin API - the stand-in for Keycloak's admin endpoints that the BodhiApp server calls
// to change a user's role and to end a user's grants:
//
//   GET  /admin/users                → 200 [{ sub, username, role }]
//   PUT  /admin/users/:sub/role      {"role": "resource_admin"} → 200 { sub, role }
//   POST /admin/users/:sub/logout    → 200 { sub, grants_revoked: n }
//   GET  /admin/stats                → 200 { grants: { <grant_type>: count }, failed_grants: {…} }
//   POST /admin/clients/:client_id/redirect-uris  {"redirect_uri": "http://127.0.0.1:41234/cb"}
//                                    → 200 { client_id, redirect_uris: [...] }
//
// Logout revokes every grant the user holds, with its refresh tokens (they then get
// invalid_grant), like Keycloak's POST /admin/realms/{realm}/users/{id}/logout. Unlike it,
// the user's browser session at the provider stays: a new login may skip the form. An
// unknown :sub is 404 on both user routes.
//
// Registering a redirect URI is how a server that binds port 0 (every test server) tells the
// provider where it is once it knows: the equivalent of adding a valid redirect URI to a
// Keycloak client. The URI is added to the list (the others stay); only the configured
// client exists here, any other :client_id is 404.
//
// The stats let tests prove how often a client really refreshed (e.g. exactly once), and how
// often it tried a grant the provider refused (e.g. a reused authorization code).
//
// Callers authenticate with an access token of the configured client obtained with
// grant_type=client_credentials at the provider's token endpoint. A user's access token for
// the same client is refused: its `sub` is the user, not the client.
import type { AccessTokenVerifier } from './access-tokens.js';
import { bearerToken } from './access-tokens.js';
import { type ClientRegistry, RedirectUriError } from './client-registry.js';
import { BodyError, readJson } from './http.js';
import type { Middleware } from './middleware.js';
import { isRole, ROLES, UserStore } from './users.js';

const USERS = '/admin/users';
const STATS = '/admin/stats';
const ROLE = /^\/admin\/users\/([^/]+)\/role$/;
const LOGOUT = /^\/admin\/users\/([^/]+)\/logout$/;
const REDIRECT_URIS = /^\/admin\/clients\/([^/]+)\/redirect-uris$/;

export function adminRoutes(options: {
  users: UserStore;
  clientId: string;
  verifyAccessToken: AccessTokenVerifier;
  /** Successful token-endpoint grants so far, by grant_type. */
  grantCounts: () => Record<string, number>;
  /** Token-endpoint requests the provider refused so far, by grant_type. */
  failedGrantCounts: () => Record<string, number>;
  /** Revokes every grant of the account `sub` and its tokens; how many grants there were. */
  revokeGrantsOf: (sub: string) => Promise<number>;
  /** The client's stored metadata, whose redirect URIs this API adds to. */
  client: ClientRegistry;
}): Middleware {
  const { users, clientId, verifyAccessToken, grantCounts, failedGrantCounts, revokeGrantsOf } =
    options;

  return async (ctx, next) => {
    const roleMatch = ROLE.exec(ctx.path);
    const logoutMatch = LOGOUT.exec(ctx.path);
    const userMatch = roleMatch ?? logoutMatch;
    const clientMatch = REDIRECT_URIS.exec(ctx.path);
    if (ctx.path !== USERS && ctx.path !== STATS && !userMatch && !clientMatch) return next();

    ctx.set('Cache-Control', 'no-store');
    const fail = (status: number, error: string, description: string) => {
      ctx.status = status;
      ctx.body = { error, error_description: description };
    };

    const allowed = roleMatch ? 'PUT' : logoutMatch || clientMatch ? 'POST' : 'GET';
    if (ctx.method !== allowed) {
      ctx.set('Allow', allowed);
      return fail(405, 'method_not_allowed', `use ${allowed}`);
    }

    // Authentication: a valid client-credentials token of the configured client.
    const token = bearerToken(ctx.get('authorization'));
    if (!token) {
      ctx.set('WWW-Authenticate', 'Bearer');
      return fail(401, 'invalid_token', 'a Bearer access token is required');
    }
    try {
      const claims = await verifyAccessToken(token);
      if (claims.sub !== clientId) throw new Error('not a client-credentials token');
    } catch {
      ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"');
      return fail(401, 'invalid_token', 'the access token is invalid or expired');
    }

    if (ctx.path === STATS) {
      ctx.body = { grants: grantCounts(), failed_grants: failedGrantCounts() };
      return;
    }
    /** Field `name` of the JSON body; undefined once a body that is no JSON is answered 400. */
    const bodyField = async (name: string): Promise<{ value: unknown } | undefined> => {
      try {
        const body = (await readJson(ctx.req)) as Record<string, unknown> | null;
        return { value: body?.[name] };
      } catch (err) {
        if (!(err instanceof BodyError)) throw err;
        fail(400, 'invalid_request', err.message);
        return undefined;
      }
    };

    if (clientMatch) {
      if (safeDecode(clientMatch[1]) !== clientId) return fail(404, 'not_found', 'unknown client');
      const uri = await bodyField('redirect_uri');
      if (!uri) return;
      if (typeof uri.value !== 'string')
        return fail(400, 'invalid_request', 'redirect_uri is required');
      try {
        const uris = await options.client.addRedirectUri(uri.value);
        ctx.body = { client_id: clientId, redirect_uris: uris };
      } catch (err) {
        if (!(err instanceof RedirectUriError)) throw err;
        return fail(400, 'invalid_redirect_uri', err.message);
      }
      return;
    }
    if (!userMatch) {
      ctx.body = users.list().map(({ sub, username, role }) => ({ sub, username, role }));
      return;
    }

    const sub = safeDecode(userMatch[1]);
    if (sub === undefined || !users.find(sub)) return fail(404, 'not_found', 'unknown user');
    if (logoutMatch) {
      ctx.body = { sub, grants_revoked: await revokeGrantsOf(sub) };
      return;
    }

    const role = await bodyField('role');
    if (!role) return;
    if (!isRole(role.value)) {
      return fail(400, 'invalid_request', `role must be one of ${ROLES.join(', ')}`);
    }

    users.setRole(sub, role.value);
    ctx.body = { sub, role: role.value };
  };
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
