// Userinfo for JWT access tokens. oidc-provider's own userinfo endpoint refuses access tokens
// that have an audience ("token audience prevents accessing the userinfo endpoint"), and ours
// all do (see provider.ts). Keycloak's userinfo accepts its access tokens, so this shim answers
// the userinfo route (discovery's userinfo_endpoint) for a Bearer JWT of ours with the same
// profile claims the ID token carries. Anything else (no header, an opaque token) is left to
// oidc-provider. It runs before the provider's router.
import { bearerToken, type AccessTokenVerifier } from './access-tokens.js';
import type { Middleware } from './middleware.js';
import { profileClaims, type UserStore } from './users.js';

const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;

export function userinfoShim(options: {
  path: string;
  users: UserStore;
  clientId: string;
  verifyAccessToken: AccessTokenVerifier;
}): Middleware {
  const { path, users, clientId, verifyAccessToken } = options;

  return async (ctx, next) => {
    const token = bearerToken(ctx.get('authorization'));
    if (ctx.path !== path || !['GET', 'POST'].includes(ctx.method) || !token) return next();
    if (!JWT_SHAPE.test(token)) return next();

    ctx.set('Cache-Control', 'no-store');
    let sub: string | undefined;
    try {
      sub = (await verifyAccessToken(token)).sub;
    } catch {
      sub = undefined;
    }
    const user = sub && sub !== clientId ? users.find(sub) : undefined;
    if (!user) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"');
      ctx.body = { error: 'invalid_token', error_description: 'invalid access token' };
      return;
    }
    ctx.body = profileClaims(user);
  };
}
