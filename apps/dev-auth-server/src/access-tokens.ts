// Verification of the provider's own JWT access tokens, for the routes this app adds next to
// oidc-provider's (the admin API and the userinfo shim). Checked like any resource server
// would: RS256 signature against the provider's key, `typ: at+jwt`, issuer, expiry, and the
// audience/client being the configured client.
import { createLocalJWKSet, jwtVerify, type JWK, type JWTPayload } from 'jose';

import { SIGNING_ALG } from './keys.js';

export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  client_id: string;
  scope?: string;
}

export type AccessTokenVerifier = (token: string) => Promise<AccessTokenClaims>;

export function createAccessTokenVerifier(options: {
  issuer: string;
  clientId: string;
  publicKeys: JWK[];
}): AccessTokenVerifier {
  const keys = createLocalJWKSet({ keys: options.publicKeys });
  return async (token) => {
    const { payload } = await jwtVerify(token, keys, {
      issuer: options.issuer,
      audience: options.clientId,
      algorithms: [SIGNING_ALG],
      typ: 'at+jwt',
      requiredClaims: ['exp', 'sub'],
    });
    if (payload.client_id !== options.clientId) {
      throw new Error('access token was issued to another client');
    }
    return payload as AccessTokenClaims;
  };
}

/** The token of an `Authorization: Bearer <token>` header, else undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(header ?? '');
  return match?.[1];
}
