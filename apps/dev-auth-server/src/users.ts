// The demo users. They come from a small JSON file (users.json, committed) and then live in
// memory: a role change through the admin API or setRole() is never written back, and it
// shows in tokens issued afterwards (new logins and refreshes) because token claims are read
// from this store at issue time.
import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** BodhiApp's resource roles, as Keycloak puts them under resource_access.<client>.roles. */
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

export interface DemoUser {
  /** Stable subject identifier (a UUID fixed in the file). */
  sub: string;
  /** Login name, also the preferred_username claim. */
  username: string;
  password: string;
  email: string;
  given_name: string;
  family_name: string;
  /** The role the admin API reports and sets. */
  role: Role;
  /**
   * Every client role access tokens list, in this order, when that is more than `role`:
   * Keycloak lists all of a user's client roles in no fixed order, the client's own roles
   * besides BodhiApp's included. Must contain `role`. A role change replaces the list.
   */
  roles?: string[];
}

/** The roles an access token lists under resource_access.<client>.roles. */
export function tokenRoles(user: DemoUser): string[] {
  return user.roles ?? [user.role];
}

/** The OpenID profile claims of a user, shared by ID tokens, userinfo and access tokens. */
export function profileClaims(user: DemoUser) {
  return {
    sub: user.sub,
    preferred_username: user.username,
    email: user.email,
    email_verified: true,
    given_name: user.given_name,
    family_name: user.family_name,
    name: `${user.given_name} ${user.family_name}`,
  };
}

export class UnknownUserError extends Error {
  override readonly name = 'UnknownUserError';
}

export class UserStore {
  readonly #bySub = new Map<string, DemoUser>();

  constructor(users: readonly DemoUser[]) {
    for (const user of users) {
      if (this.#bySub.has(user.sub)) throw new Error(`duplicate user sub ${user.sub}`);
      if (users.filter((u) => u.username === user.username).length > 1) {
        throw new Error(`duplicate username ${user.username}`);
      }
      this.#bySub.set(user.sub, copy(user));
    }
  }

  /** Reads and validates a users file: `{ "users": [ { sub, username, password, ... } ] }`. */
  static async fromFile(file: string): Promise<UserStore> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new Error(`cannot read users file ${file}: ${(err as Error).message}`);
    }
    try {
      return new UserStore(parseUsers(parsed));
    } catch (err) {
      throw new Error(`invalid users file ${file}: ${(err as Error).message}`);
    }
  }

  find(sub: string): DemoUser | undefined {
    const user = this.#bySub.get(sub);
    return user && copy(user);
  }

  list(): DemoUser[] {
    return [...this.#bySub.values()].map(copy);
  }

  /** The user whose username and password both match, else undefined. */
  authenticate(username: string, password: string): DemoUser | undefined {
    const user = [...this.#bySub.values()].find((u) => u.username === username);
    // Compare even when the user is unknown, so both failures take the same path.
    const ok = sameSecret(password, user?.password ?? '\0');
    return user && ok ? copy(user) : undefined;
  }

  setRole(sub: string, role: Role): DemoUser {
    const user = this.#bySub.get(sub);
    if (!user) throw new UnknownUserError(`unknown user ${sub}`);
    if (!isRole(role)) throw new TypeError(`unknown role ${String(role)}`);
    user.role = role;
    delete user.roles;
    return copy(user);
  }
}

/** A copy that shares nothing with the store, `roles` array included. */
function copy(user: DemoUser): DemoUser {
  return user.roles ? { ...user, roles: [...user.roles] } : { ...user };
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const STRING_FIELDS = [
  'sub',
  'username',
  'password',
  'email',
  'given_name',
  'family_name',
] as const;

function parseUsers(data: unknown): DemoUser[] {
  const users = (data as { users?: unknown } | null)?.users;
  if (!Array.isArray(users) || users.length === 0) {
    throw new Error('expected { "users": [ ... ] } with at least one user');
  }
  return users.map((entry: unknown, i) => {
    const raw = (entry ?? {}) as Record<string, unknown>;
    for (const field of STRING_FIELDS) {
      if (typeof raw[field] !== 'string' || raw[field] === '') {
        throw new Error(`users[${i}].${field} must be a non-empty string`);
      }
    }
    if (!isRole(raw.role)) {
      throw new Error(`users[${i}].role must be one of ${ROLES.join(', ')}`);
    }
    const roles = raw.roles;
    if (
      roles !== undefined &&
      (!Array.isArray(roles) ||
        !roles.every((r) => typeof r === 'string' && r !== '') ||
        !roles.includes(raw.role))
    ) {
      throw new Error(`users[${i}].roles must be a list of role names that includes its role`);
    }
    const user = raw as unknown as DemoUser;
    return {
      sub: user.sub,
      username: user.username,
      password: user.password,
      email: user.email,
      given_name: user.given_name,
      family_name: user.family_name,
      role: user.role,
      ...(roles ? { roles: [...(roles as string[])] } : {}),
    };
  });
}
