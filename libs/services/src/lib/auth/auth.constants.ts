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
