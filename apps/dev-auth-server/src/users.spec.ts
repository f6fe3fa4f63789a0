import { describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DEFAULT_USERS_FILE } from './config.js';
import { tokenRoles, UserStore } from './users.js';

describe('UserStore', () => {
  it('loads the committed demo users', async () => {
    const users = await UserStore.fromFile(DEFAULT_USERS_FILE);
    expect(users.list().map(({ username, role }) => ({ username, role }))).toEqual([
      { username: 'user@bodhi.test', role: 'resource_user' },
      { username: 'admin@bodhi.test', role: 'resource_admin' },
    ]);
    expect(users.authenticate('user@bodhi.test', 'user-pass')?.given_name).toBe('Uma');
    expect(users.authenticate('admin@bodhi.test', 'admin-pass')?.family_name).toBe('Admin');
    expect(users.authenticate('user@bodhi.test', 'admin-pass')).toBeUndefined();
    expect(users.authenticate('nobody@bodhi.test', 'user-pass')).toBeUndefined();
  });

  it('changes roles in memory and hands out copies', async () => {
    const users = await UserStore.fromFile(DEFAULT_USERS_FILE);
    const [user] = users.list();
    user.role = 'resource_admin'; // a copy: no effect
    expect(users.find(user.sub)?.role).toBe('resource_user');
    expect(users.setRole(user.sub, 'resource_power_user').role).toBe('resource_power_user');
    expect(users.find(user.sub)?.role).toBe('resource_power_user');
    expect(() => users.setRole('nope', 'resource_user')).toThrow(/unknown user/);
  });

  it("keeps a user's several client roles in file order until a role change replaces them", () => {
    const many = {
      sub: 'm',
      username: 'many@bodhi.test',
      password: 'p',
      email: 'many@bodhi.test',
      given_name: 'Max',
      family_name: 'Many',
      role: 'resource_admin' as const,
      roles: ['resource_admin', 'resource_user'],
    };
    const users = new UserStore([many]);
    const [found] = users.list();
    expect(tokenRoles(found)).toEqual(['resource_admin', 'resource_user']);
    found.roles?.push('resource_manager'); // a copy: no effect
    expect(users.find('m')?.roles).toEqual(['resource_admin', 'resource_user']);
    expect(tokenRoles(users.setRole('m', 'resource_manager'))).toEqual(['resource_manager']);
    expect(users.find('m')?.roles).toBeUndefined();
  });

  it('explains what is wrong with a bad users file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dev-auth-users-'));
    try {
      const file = join(dir, 'users.json');
      await writeFile(file, JSON.stringify({ users: [{ sub: 'x', username: 'u' }] }));
      await expect(UserStore.fromFile(file)).rejects.toThrow(/users\[0\]\.password/);
      const user = {
        sub: 'x',
        username: 'u',
        password: 'p',
        email: 'e',
        given_name: 'g',
        family_name: 'f',
        role: 'resource_admin',
      };
      for (const roles of ['resource_admin', ['resource_user'], ['resource_admin', '']]) {
        await writeFile(file, JSON.stringify({ users: [{ ...user, roles }] }));
        await expect(UserStore.fromFile(file)).rejects.toThrow(
          /users\[0\]\.roles must be a list of role names that includes its role/,
        );
      }
      await writeFile(file, '{ not json');
      await expect(UserStore.fromFile(file)).rejects.toThrow(/cannot read users file/);
      await expect(UserStore.fromFile(join(dir, 'missing.json'))).rejects.toThrow(/ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
