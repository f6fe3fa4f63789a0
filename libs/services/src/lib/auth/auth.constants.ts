/** BodhiApp roles, lowest first; a higher role includes every lower one. */
export const ROLES = [
  'resource_user',
  'resource_power_user',
  'resource_manager',
  'resource_admin',
] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** True when `role` is at least `minimum`. */
export function roleAtLeast(role: Role | null | undefined, minimum: Role): boolean {
  return role != null && ROLES.indexOf(role) >= ROLES.indexOf(minimum);
}

/** Scopes the server asks for at login. */
export const LOGIN_SCOPES = 'openid profile email';

/**
 * The JWS algorithms an access token may be signed with: the asymmetric ones only. An HMAC
 * algorithm would let anyone holding the provider's public key sign (the key used as the
 * secret), and `none` is no signature at all.
 */
export const ACCESS_TOKEN_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;
export type AccessTokenAlgorithm = (typeof ACCESS_TOKEN_ALGORITHMS)[number];
